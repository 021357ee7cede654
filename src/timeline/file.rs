//! [`TimelineFile`]: the persistent instances' timeline entries as JSON lines, appended as they
//! are recorded and read back at start. A line that does not read (a torn last line after a
//! crash, garbage) is skipped. When the file holds more than twice what memory may keep, it
//! is rewritten from memory (to a temporary file, then renamed over it).
//!
//! Lines are written without an fsync: the file survives a member's restart (a process that
//! stops or crashes), not necessarily a power loss; losing the last entries of a history is
//! not worth a disk flush on every persistent write.

use super::entry::{EntryJson, TimelineEntry};
use crate::model::{InstanceKey, ServiceKey};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    namespace: String,
    group: String,
    service: String,
    cluster: String,
    ip: String,
    port: u16,
    entry: EntryJson,
}

type Key = (ServiceKey, InstanceKey);

fn to_line(service: &ServiceKey, instance: &InstanceKey, entry: &TimelineEntry) -> Option<String> {
    let line = Line {
        namespace: service.namespace().to_string(),
        group: service.group().to_string(),
        service: service.service().to_string(),
        cluster: instance.cluster.to_string(),
        ip: instance.endpoint.ip.to_string(),
        port: instance.endpoint.port,
        entry: EntryJson::from(entry),
    };
    serde_json::to_string(&line).ok()
}

fn from_line(text: &str) -> Option<(Key, TimelineEntry)> {
    let line: Line = serde_json::from_str(text).ok()?;
    let service = ServiceKey::new(&line.namespace, &line.group, &line.service).ok()?;
    let instance = InstanceKey::new(&line.cluster, &line.ip, line.port).ok()?;
    Some(((service, instance), TimelineEntry::from(line.entry)))
}

/// The file: see the module documentation.
pub(super) struct TimelineFile {
    path: PathBuf,
    file: File,
    lines: usize,
    /// Set after a failed write, so the failure is logged once, not per entry.
    failing: bool,
}

impl TimelineFile {
    /// Opens (or creates) the file at `path`, with what it holds.
    pub(super) fn open(path: &Path) -> std::io::Result<(Self, Vec<(Key, TimelineEntry)>)> {
        let mut loaded = Vec::new();
        let mut skipped = 0usize;
        if path.exists() {
            for line in BufReader::new(File::open(path)?).lines() {
                match line.ok().as_deref().and_then(from_line) {
                    Some(entry) => loaded.push(entry),
                    None => skipped += 1,
                }
            }
        }
        if skipped > 0 {
            tracing::warn!(
                path = %path.display(),
                skipped,
                "timeline file: lines that did not read were skipped"
            );
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let lines = loaded.len();
        Ok((
            Self {
                path: path.to_owned(),
                file,
                lines,
                failing: false,
            },
            loaded,
        ))
    }

    /// Appends one entry.
    pub(super) fn append(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
        entry: &TimelineEntry,
    ) {
        let Some(mut line) = to_line(service, instance, entry) else {
            return;
        };
        line.push('\n');
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => {
                self.lines += 1;
                self.failing = false;
            }
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&mut self, e: &std::io::Error) {
        if !self.failing {
            tracing::warn!(path = %self.path.display(), error = %e, "timeline file: write failed");
        }
        self.failing = true;
    }

    /// Whether the file holds more than twice `limit` entries.
    pub(super) fn wants_compaction(&self, limit: usize) -> bool {
        self.lines > limit.saturating_mul(2).max(1024)
    }

    /// Rewrites the file with `keep` only.
    pub(super) fn rewrite(&mut self, keep: &[(Key, Vec<TimelineEntry>)]) {
        let tmp = self.path.with_extension("tmp");
        let written = (|| -> std::io::Result<(File, usize)> {
            let mut out = std::io::BufWriter::new(File::create(&tmp)?);
            let mut lines = 0;
            for ((service, instance), entries) in keep {
                for entry in entries {
                    if let Some(line) = to_line(service, instance, entry) {
                        out.write_all(line.as_bytes())?;
                        out.write_all(b"\n")?;
                        lines += 1;
                    }
                }
            }
            out.flush()?;
            drop(out);
            std::fs::rename(&tmp, &self.path)?;
            let file = OpenOptions::new().append(true).open(&self.path)?;
            Ok((file, lines))
        })();
        match written {
            Ok((file, lines)) => {
                self.file = file;
                self.lines = lines;
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                self.failed(&e);
                // Do not try again at every entry: the next try comes after as many again.
                self.lines = 0;
            }
        }
    }
}
