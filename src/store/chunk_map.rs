//! [`ChunkMap`]: the persistent ordered map that holds one cluster's instances.
//!
//! A B+-tree of small sorted chunks behind `Arc`s: cloning it is one reference count, and a
//! write copies only the chunks on its path (at most [`LEAF_MAX`] entries and
//! [`BRANCH_MAX`] children each), sharing everything else with the copy it came from. It
//! replaced `imbl::OrdMap` here for one reason: it can be **built from sorted entries in one
//! pass** ([`ChunkMap::from_sorted`]), which a rebuild of a whole cluster needs (a health sweep
//! that flips every instance of a service, see [`crate::store`]'s `bulk` module); `OrdMap` can
//! only be built by inserting entry after entry, at a tree walk and a string comparison per
//! level each, which cost more than all the rest of such a rebuild together.
//!
//! Single writes cost about what they cost in `OrdMap` (same node width, the same path
//! copying); a removal merges a small node into its neighbour when both fit in one, so the
//! tree stays compact after mass removals. Keys live in the leaves and, as routing copies, in
//! the branches above them.
//!
//! **Leaves are sized to what they hold** (`Arc<[(K, V)]>`, one allocation with the counts),
//! unlike `OrdMap`'s nodes, which are allocated for their full width whatever they hold. A
//! write copies the leaf it changes anyway, so spare room in a leaf was never used in place;
//! it only held memory: for services of 10 instances, a leaf of 17 slots cost about 60 bytes
//! per instance (issue 24, item 4; `cargo bench --all-features --bench instance_memory`).

use imbl_sized_chunks::Chunk;
use std::sync::Arc;

/// Most entries in one leaf.
pub(crate) const LEAF_MAX: usize = 16;
/// Most children of one branch.
pub(crate) const BRANCH_MAX: usize = 16;
/// How full [`ChunkMap::from_sorted`] makes its nodes: room for a few inserts before a split.
const BUILD_FILL: usize = 12;
/// A node this small after a removal is merged into a neighbour, when the two fit in one.
const MERGE_BELOW: usize = 4;

/// A persistent ordered map (see the module docs).
#[derive(Clone)]
pub(crate) struct ChunkMap<K, V> {
    root: Option<Node<K, V>>,
    len: usize,
}

/// What an overflowing node hands its parent: the separator and its new right sibling.
type Split<K, V> = (K, Node<K, V>);

#[derive(Clone)]
enum Node<K, V> {
    Leaf(Leaf<K, V>),
    Branch(Arc<Branch<K, V>>),
}

/// A leaf's entries, sorted by key, in one allocation with its reference counts, **sized to
/// what it holds**. Leaves are copied on every write anyway (that is how a write leaves the
/// published snapshot alone), so room for later inserts would only be carried around: a
/// leaf of fixed capacity (`LEAF_MAX + 1` slots) held 10 instances of a small service in
/// the space of 17, about 60 bytes more per instance.
type Leaf<K, V> = Arc<[(K, V)]>;

/// A copy of `items` with `entry` inserted at `i`, in one allocation.
fn inserted<K: Clone, V: Clone>(items: &[(K, V)], i: usize, entry: (K, V)) -> Leaf<K, V> {
    items[..i]
        .iter()
        .cloned()
        .chain(std::iter::once(entry))
        .chain(items[i..].iter().cloned())
        .collect()
}

#[derive(Clone)]
struct Branch<K, V> {
    /// `keys[i]` is at most the smallest key under `children[i + 1]` and above every key under
    /// `children[i]`; one fewer than the children.
    keys: Chunk<K, BRANCH_MAX>,
    children: Chunk<Node<K, V>, { BRANCH_MAX + 1 }>,
}

impl<K: Ord, V> Branch<K, V> {
    fn route(&self, key: &K) -> usize {
        self.keys.partition_point(|k| k <= key)
    }
}

impl<K, V> Default for ChunkMap<K, V> {
    fn default() -> Self {
        Self { root: None, len: 0 }
    }
}

impl<K: Ord + Clone, V: Clone> Node<K, V> {
    /// Entries of a leaf, children of a branch.
    fn width(&self) -> usize {
        match self {
            Node::Leaf(items) => items.len(),
            Node::Branch(b) => b.children.len(),
        }
    }

    fn max_width(&self) -> usize {
        match self {
            Node::Leaf(_) => LEAF_MAX,
            Node::Branch(_) => BRANCH_MAX,
        }
    }

    /// Inserts; returns the value replaced and, when this node overflowed, the separator and
    /// the new right sibling.
    fn insert(&mut self, key: K, value: V) -> (Option<V>, Option<Split<K, V>>) {
        match self {
            Node::Leaf(items) => match items.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => {
                    let items = Arc::make_mut(items);
                    (Some(std::mem::replace(&mut items[i].1, value)), None)
                }
                Err(i) if items.len() < LEAF_MAX => {
                    *items = inserted(items, i, (key, value));
                    (None, None)
                }
                Err(i) => {
                    // Full: the entries with the new one are split in two halves.
                    let mid = items.len().div_ceil(2);
                    let all = inserted(items, i, (key, value));
                    let right: Leaf<K, V> = all[mid..].iter().cloned().collect();
                    *items = all[..mid].iter().cloned().collect();
                    let separator = right[0].0.clone();
                    (None, Some((separator, Node::Leaf(right))))
                }
            },
            Node::Branch(b) => {
                let b = Arc::make_mut(b);
                let i = b.route(&key);
                let (old, split) = b.children[i].insert(key, value);
                let Some((separator, right)) = split else {
                    return (old, None);
                };
                b.keys.insert(i, separator);
                b.children.insert(i + 1, right);
                if b.children.len() <= BRANCH_MAX {
                    return (old, None);
                }
                let mid = b.children.len() / 2;
                let children = b.children.split_off(mid);
                let mut keys = b.keys.split_off(mid - 1);
                let separator = keys.remove(0);
                let right = Node::Branch(Arc::new(Branch { keys, children }));
                (old, Some((separator, right)))
            }
        }
    }

    /// Removes `key` (known to be present) and merges a child left small into a neighbour.
    fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            Node::Leaf(items) => {
                let i = items.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                let old = items[i].1.clone();
                *items = items[..i].iter().chain(&items[i + 1..]).cloned().collect();
                Some(old)
            }
            Node::Branch(b) => {
                let b = Arc::make_mut(b);
                let i = b.route(key);
                let old = b.children[i].remove(key)?;
                let width = b.children[i].width();
                if width == 0 {
                    b.children.remove(i);
                    b.keys.remove(i.saturating_sub(1));
                } else if width < MERGE_BELOW && b.children.len() > 1 {
                    let left = if i + 1 < b.children.len() { i } else { i - 1 };
                    b.merge(left);
                }
                Some(old)
            }
        }
    }
}

impl<K: Ord + Clone, V: Clone> Branch<K, V> {
    /// Merges `children[left + 1]` into `children[left]` if both fit in one node.
    fn merge(&mut self, left: usize) {
        let (a, b) = (&self.children[left], &self.children[left + 1]);
        if a.width() + b.width() > a.max_width() {
            return;
        }
        let right = self.children.remove(left + 1);
        let separator = self.keys.remove(left);
        match (&mut self.children[left], right) {
            (Node::Leaf(l), Node::Leaf(r)) => {
                *l = l.iter().chain(r.iter()).cloned().collect();
            }
            (Node::Branch(l), Node::Branch(r)) => {
                let r = Arc::unwrap_or_clone(r);
                let l = Arc::make_mut(l);
                l.keys.push_back(separator);
                l.keys.extend(r.keys);
                l.children.extend(r.children);
            }
            // Siblings are always at the same depth.
            (_, right) => {
                self.children.insert(left + 1, right);
            }
        }
    }
}

impl<K: Ord + Clone, V: Clone> ChunkMap<K, V> {
    /// A map of `entries`, which must come sorted by key with no key twice (debug builds check).
    /// One pass: the entries are moved into leaves as they come (nothing is staged, so a
    /// rebuild of a large cluster touches each entry's memory once), and branches built over
    /// them.
    pub(crate) fn from_sorted(entries: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut len = 0;
        let mut level: Vec<(K, Node<K, V>)> = Vec::new();
        let mut items: Vec<(K, V)> = Vec::with_capacity(BUILD_FILL);
        for entry in entries {
            debug_assert!(items.last().is_none_or(|(k, _)| *k < entry.0));
            len += 1;
            items.push(entry);
            if items.len() == BUILD_FILL {
                let first = items[0].0.clone();
                level.push((first, Node::Leaf(items.drain(..).collect())));
            }
        }
        Self::close_leaves(&mut level, items);
        while level.len() > 1 {
            let mut above = Vec::with_capacity(level.len() / BUILD_FILL + 1);
            let mut rest = level.into_iter();
            for size in even_split(rest.len(), BUILD_FILL) {
                let mut keys = Chunk::new();
                let mut children = Chunk::new();
                let mut first = None;
                for (key, child) in rest.by_ref().take(size) {
                    if first.is_none() {
                        first = Some(key);
                    } else {
                        keys.push_back(key);
                    }
                    children.push_back(child);
                }
                if let Some(first) = first {
                    above.push((first, Node::Branch(Arc::new(Branch { keys, children }))));
                }
            }
            level = above;
        }
        Self {
            root: level.pop().map(|(_, node)| node),
            len,
        }
    }

    /// Adds the last, partly filled leaf `tail` to the full ones in `level`: a tail under half
    /// full is shared out with the leaf before it, so no leaf is left nearly empty (the two
    /// together hold at most `BUILD_FILL * 3 / 2` entries, which fit in two leaves).
    fn close_leaves(level: &mut Vec<(K, Node<K, V>)>, mut tail: Vec<(K, V)>) {
        if tail.is_empty() {
            return;
        }
        if tail.len() < BUILD_FILL / 2 {
            if let Some((_, Node::Leaf(before))) = level.pop() {
                let mut all: Vec<(K, V)> = before.iter().cloned().collect();
                all.append(&mut tail);
                let mut rest = all.into_iter();
                for size in even_split(rest.len(), BUILD_FILL) {
                    let part: Leaf<K, V> = rest.by_ref().take(size).collect();
                    level.push((part[0].0.clone(), Node::Leaf(part)));
                }
                return;
            }
        }
        level.push((tail[0].0.clone(), Node::Leaf(tail.drain(..).collect())));
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let mut node = self.root.as_ref()?;
        loop {
            match node {
                Node::Branch(b) => node = &b.children[b.route(key)],
                Node::Leaf(items) => {
                    let i = items.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                    return Some(&items[i].1);
                }
            }
        }
    }

    /// The value under `key`, to change in place: the nodes on its path are copied if shared.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.get(key)?;
        let mut node = self.root.as_mut()?;
        loop {
            match node {
                Node::Branch(b) => {
                    let b = Arc::make_mut(b);
                    let i = b.route(key);
                    node = &mut b.children[i];
                }
                Node::Leaf(items) => {
                    let i = items.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                    return Some(&mut Arc::make_mut(items)[i].1);
                }
            }
        }
    }

    /// Inserts `value` under `key`; returns the value it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let Some(root) = self.root.as_mut() else {
            self.root = Some(Node::Leaf(Arc::new([(key, value)])));
            self.len = 1;
            return None;
        };
        let (old, split) = root.insert(key, value);
        if let Some((separator, right)) = split {
            if let Some(left) = self.root.take() {
                let children = Chunk::pair(left, right);
                let keys = Chunk::unit(separator);
                self.root = Some(Node::Branch(Arc::new(Branch { keys, children })));
            }
        }
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.get(key)?;
        let old = self.root.as_mut()?.remove(key)?;
        self.len -= 1;
        // A root left with one child gives way to it; an empty one goes.
        loop {
            match &self.root {
                Some(Node::Branch(b)) if b.children.len() == 1 => {
                    self.root = b.children.first().cloned();
                }
                Some(node) if node.width() == 0 => self.root = None,
                _ => break,
            }
        }
        Some(old)
    }

    /// The keys whose entries differ between `self` and `other` (by `same`; a key in one
    /// only differs), sorted. Only the leaves the two maps do not share are looked into, so
    /// for a map and a later copy of it this costs about what was written in between, plus
    /// one pass over the branches.
    pub(crate) fn changed_keys(&self, other: &Self, same: impl Fn(&V, &V) -> bool) -> Vec<K> {
        let (mine, theirs) = (self.leaves(), other.leaves());
        let addresses = |leaves: &[&[(K, V)]]| -> std::collections::HashSet<usize> {
            leaves.iter().map(|l| l.as_ptr() as usize).collect()
        };
        let (in_mine, in_theirs) = (addresses(&mine), addresses(&theirs));
        let mut keys: Vec<K> = Vec::new();
        for (leaves, elsewhere) in [(&mine, &in_theirs), (&theirs, &in_mine)] {
            for leaf in leaves.iter() {
                if !elsewhere.contains(&(leaf.as_ptr() as usize)) {
                    keys.extend(leaf.iter().map(|(k, _)| k.clone()));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys.retain(|k| match (self.get(k), other.get(k)) {
            (Some(a), Some(b)) => !same(a, b),
            (None, None) => false,
            _ => true,
        });
        keys
    }

    /// Every leaf, in key order (for [`ChunkMap::changed_keys`]): whole subtrees shared by
    /// two maps are still walked, but only their branches.
    fn leaves(&self) -> Vec<&[(K, V)]> {
        fn walk<'a, K, V>(node: &'a Node<K, V>, out: &mut Vec<&'a [(K, V)]>) {
            match node {
                Node::Leaf(items) => out.push(items),
                Node::Branch(b) => b.children.iter().for_each(|c| walk(c, out)),
            }
        }
        let mut out = Vec::new();
        if let Some(root) = &self.root {
            walk(root, &mut out);
        }
        out
    }

    /// Every entry, in key order.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        let mut iter = Iter {
            stack: Vec::new(),
            leaf: [].iter(),
            remaining: self.len,
        };
        if let Some(root) = &self.root {
            iter.descend(root);
        }
        iter
    }

    /// Every value, in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

/// `len` split into the fewest parts of at most `fill`, as even as can be.
fn even_split(len: usize, fill: usize) -> impl Iterator<Item = usize> {
    let parts = len.div_ceil(fill);
    (0..parts).map(move |i| len / parts + usize::from(i < len % parts))
}

/// The entries of a [`ChunkMap`], in key order.
pub(crate) struct Iter<'a, K, V> {
    /// Branches above the current leaf, each with the index of its next child.
    stack: Vec<(&'a Branch<K, V>, usize)>,
    leaf: std::slice::Iter<'a, (K, V)>,
    remaining: usize,
}

impl<'a, K, V> Iter<'a, K, V> {
    fn descend(&mut self, mut node: &'a Node<K, V>) {
        loop {
            match node {
                Node::Leaf(items) => {
                    self.leaf = items.iter();
                    return;
                }
                Node::Branch(b) => {
                    self.stack.push((b, 1));
                    match b.children.first() {
                        Some(first) => node = first,
                        None => return,
                    }
                }
            }
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((k, v)) = self.leaf.next() {
                self.remaining -= 1;
                return Some((k, v));
            }
            let top = self.stack.last_mut()?;
            let branch: &'a Branch<K, V> = top.0;
            match branch.children.get(top.1) {
                Some(child) => {
                    top.1 += 1;
                    self.descend(child);
                }
                None => {
                    self.stack.pop();
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<K: Ord + Clone + std::fmt::Debug, V: Clone + std::fmt::Debug> std::fmt::Debug
    for ChunkMap<K, V>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Checks the tree's invariants (sorted leaves, separators bounding their children, node
/// widths, the entry count); for tests.
#[cfg(test)]
pub(crate) fn check<K: Ord + Clone + std::fmt::Debug, V: Clone>(map: &ChunkMap<K, V>) {
    fn walk<K: Ord + Clone + std::fmt::Debug, V: Clone>(
        node: &Node<K, V>,
        lower: Option<&K>,
        upper: Option<&K>,
    ) -> usize {
        let in_bounds = |k: &K| lower.is_none_or(|l| l <= k) && upper.is_none_or(|u| k < u);
        match node {
            Node::Leaf(items) => {
                assert!(!items.is_empty() && items.len() <= LEAF_MAX);
                assert!(items.windows(2).all(|w| w[0].0 < w[1].0));
                assert!(
                    items.iter().all(|(k, _)| in_bounds(k)),
                    "leaf out of bounds"
                );
                items.len()
            }
            Node::Branch(b) => {
                // A branch can be left with one child when its only sibling is too full to
                // merge with; only the root is kept at two or more.
                assert!(!b.children.is_empty() && b.children.len() <= BRANCH_MAX);
                assert_eq!(b.keys.len() + 1, b.children.len());
                let mut total = 0;
                for (i, child) in b.children.iter().enumerate() {
                    let lo = if i == 0 { lower } else { Some(&b.keys[i - 1]) };
                    let hi = b.keys.get(i).or(upper);
                    total += walk(child, lo, hi);
                }
                total
            }
        }
    }
    if let Some(Node::Branch(b)) = &map.root {
        assert!(
            b.children.len() >= 2,
            "a root branch has two children or more"
        );
    }
    let counted = map.root.as_ref().map_or(0, |r| walk(r, None, None));
    assert_eq!(counted, map.len, "entry count");
    assert_eq!(map.iter().count(), map.len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Bump(u16),
        Snapshot,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u16..600, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0u16..600).prop_map(Op::Remove),
            1 => (0u16..600).prop_map(Op::Bump),
            1 => Just(Op::Snapshot),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Behaves like `BTreeMap` under any mix of writes, and copies taken along the way
        /// never change.
        #[test]
        fn behaves_like_a_btreemap_and_copies_stay_put(
            seed in proptest::collection::btree_map(0u16..600, any::<u32>(), 0..300),
            ops in proptest::collection::vec(op(), 0..400),
        ) {
            let mut model: BTreeMap<u16, u32> = seed.clone();
            let mut map = ChunkMap::from_sorted(seed);
            check(&map);
            let mut copies: Vec<(ChunkMap<u16, u32>, BTreeMap<u16, u32>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                    Op::Bump(k) => {
                        let got = map.get_mut(&k).map(|v| { *v = v.wrapping_add(1); *v });
                        let want = model.get_mut(&k).map(|v| { *v = v.wrapping_add(1); *v });
                        prop_assert_eq!(got, want);
                    }
                    Op::Snapshot => copies.push((map.clone(), model.clone())),
                }
                prop_assert_eq!(map.get(&7), model.get(&7));
            }
            check(&map);
            let got: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let want: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(got, want);
            for (copy, at) in copies {
                check(&copy);
                let got: Vec<_> = copy.iter().map(|(k, v)| (*k, *v)).collect();
                let want: Vec<_> = at.into_iter().collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// The keys reported changed between a map and a later copy are exactly those whose
        /// values differ, whatever was written in between.
        #[test]
        fn changed_keys_are_exactly_the_differing_ones(
            seed in proptest::collection::btree_map(0u16..3000, any::<u32>(), 0..2000),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let before = ChunkMap::from_sorted(seed.iter().map(|(k, v)| (*k, *v)));
            let mut after = before.clone();
            let mut model = seed.clone();
            for op in ops {
                match op {
                    Op::Insert(k, v) => { after.insert(k, v); model.insert(k, v); }
                    Op::Remove(k) => { after.remove(&k); model.remove(&k); }
                    Op::Bump(k) => {
                        if let Some(v) = after.get_mut(&k) { *v = v.wrapping_add(1); }
                        if let Some(v) = model.get_mut(&k) { *v = v.wrapping_add(1); }
                    }
                    Op::Snapshot => {}
                }
            }
            let want: Vec<u16> = seed.keys().chain(model.keys())
                .filter(|k| seed.get(k) != model.get(k))
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            prop_assert_eq!(before.changed_keys(&after, |a, b| a == b), want.clone());
            prop_assert_eq!(after.changed_keys(&before, |a, b| a == b), want);
        }
    }

    #[test]
    fn built_from_sorted_entries_at_every_size_up_to_three_levels() {
        for n in (0..300).chain([1_999, 2_000, 2_001, 20_000]) {
            let map = ChunkMap::from_sorted((0..n).map(|i| (i, i * 2)));
            check(&map);
            assert_eq!(map.len(), n);
            assert!(map
                .iter()
                .map(|(k, v)| (*k, *v))
                .eq((0..n).map(|i| (i, i * 2))));
            assert_eq!(map.get(&(n / 2)), (n > 0).then_some(&(n / 2 * 2)));
            // Built in one stream, the last leaf is shared out too: none is nearly empty.
            let least = n.min(BUILD_FILL / 2);
            let smallest = map.root.as_ref().map_or(0, smallest_leaf);
            assert!(smallest >= least, "a leaf of {smallest} of {n}");
        }
    }

    fn smallest_leaf<K, V>(node: &Node<K, V>) -> usize {
        match node {
            Node::Leaf(items) => items.len(),
            Node::Branch(b) => b.children.iter().map(smallest_leaf).min().unwrap_or(0),
        }
    }

    #[test]
    fn removing_almost_everything_keeps_the_tree_compact() {
        let mut map = ChunkMap::from_sorted((0..10_000u32).map(|i| (i, ())));
        for i in (0..10_000).filter(|i| i % 100 != 0) {
            map.remove(&i);
            if i % 997 == 0 {
                check(&map);
            }
        }
        check(&map);
        assert_eq!(map.len(), 100);
        // 100 entries need at least 7 leaves; merging keeps it near that, not one per entry.
        let leaves = map.root.as_ref().map_or(0, count_leaves);
        assert!(leaves <= 40, "{leaves} leaves for 100 entries");
    }

    fn count_leaves<K, V>(node: &Node<K, V>) -> usize {
        match node {
            Node::Leaf(_) => 1,
            Node::Branch(b) => b.children.iter().map(count_leaves).sum(),
        }
    }
}
