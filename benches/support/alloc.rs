//! The bench binary's global allocator: the system allocator, counting allocations and bytes
//! while asked to, and [`heap_use_of`] to measure what a closure allocates and keeps.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Wraps the system allocator and, while [`COUNTING`] is on, counts allocations and the bytes
/// allocated and freed (by every thread). Off, it costs one relaxed load per call, so the timed
/// benchmarks are not slowed by contended counters.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES_ALLOCATED: AtomicU64 = AtomicU64::new(0);
static BYTES_FREED: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn note_alloc(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES_ALLOCATED.fetch_add(size as u64, Ordering::Relaxed);
    }
}

fn note_free(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        BYTES_FREED.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters have no effect on memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note_alloc(new_size);
            note_free(layout.size());
        }
        new
    }
}

/// What the allocator saw while `f` ran.
pub(crate) struct HeapUse {
    pub(crate) allocations: u64,
    /// Bytes allocated minus bytes freed: what is still live.
    pub(crate) net_bytes: i64,
}

/// Runs `f` with counting on and returns its value and what the allocator saw meanwhile.
pub(crate) fn heap_use_of<T>(f: impl FnOnce() -> T) -> (T, HeapUse) {
    let allocs = ALLOCATIONS.load(Ordering::SeqCst);
    let allocated = BYTES_ALLOCATED.load(Ordering::SeqCst);
    let freed = BYTES_FREED.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let value = f();
    COUNTING.store(false, Ordering::SeqCst);
    let grown = BYTES_ALLOCATED.load(Ordering::SeqCst) - allocated;
    let shrunk = BYTES_FREED.load(Ordering::SeqCst) - freed;
    let used = HeapUse {
        allocations: ALLOCATIONS.load(Ordering::SeqCst) - allocs,
        net_bytes: grown as i64 - shrunk as i64,
    };
    (value, used)
}
