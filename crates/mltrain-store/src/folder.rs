//! The ImageFolder convention, as torchvision's `ImageFolder` reads a data folder: which
//! files are images, and which are skipped. One rule for `upload-dir`, the workflow's
//! listing and `predict` on a directory, so a file is treated alike everywhere.
//!
//! A file counts when its name ends in a supported image extension, in any case
//! ([`IMAGE_EXTENSIONS`]). Hidden files and everything below a hidden folder (a name
//! starting with `.`: `.DS_Store`, `.ipynb_checkpoints/`, `.git/`) are skipped, as are
//! files of any other extension (`README.txt`, `notes.txt`, `labels.csv`).

use std::path::{Path, PathBuf};

/// Extensions of the images mltrain decodes (PNG and JPEG), lower case.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// Why a file is not taken as an image.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Skip {
    /// Its name, or that of a folder above it, starts with `.`.
    Hidden,
    /// Its extension is not one of [`IMAGE_EXTENSIONS`].
    NotImage,
    /// A symlink to a folder that is already being walked: following it would never end.
    SymlinkCycle,
    /// A symlink whose target does not exist.
    BrokenSymlink,
}

impl Skip {
    /// A few words for summaries and reports.
    pub fn describe(self) -> &'static str {
        match self {
            Skip::Hidden => "hidden (name starts with `.`)",
            Skip::NotImage => "not an image (extension is not .png, .jpg or .jpeg)",
            Skip::SymlinkCycle => "symlink cycle (links to a folder above it)",
            Skip::BrokenSymlink => "broken symlink",
        }
    }
}

/// Whether the file at `rel` (a `/`-separated path below the data folder) is skipped, and
/// why; `None` for an image.
pub fn skip_reason(rel: &str) -> Option<Skip> {
    let mut segments = rel.split('/').filter(|s| !s.is_empty()).peekable();
    let mut name = "";
    while let Some(segment) = segments.next() {
        if segment.starts_with('.') {
            return Some(Skip::Hidden);
        }
        if segments.peek().is_none() {
            name = segment;
        }
    }
    let is_image = name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && IMAGE_EXTENSIONS
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
    });
    (!is_image).then_some(Skip::NotImage)
}

/// A file found below a folder, with its `/`-separated path relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file's path below the walked folder (symlinks kept, not resolved), to open it.
    pub path: PathBuf,
    /// The path relative to the walked folder, `/`-separated whatever the platform: the
    /// key suffix on upload.
    pub rel: String,
}

/// What [`walk`] found: the files, and what it did not follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// Every file (symlinks followed), sorted by relative path.
    pub files: Vec<Found>,
    /// Symlinks not followed, with why ([`Skip::SymlinkCycle`] or [`Skip::BrokenSymlink`]).
    pub unfollowed: Vec<(String, Skip)>,
}

/// Every file below `dir`, following symlinks to files and folders. A symlink to a folder
/// already being walked (an ancestor of itself) is not followed, so a cycle ends the walk
/// of that branch instead of looping; a dangling symlink is reported, not an error.
pub fn walk(dir: &Path) -> std::io::Result<Walk> {
    let mut out = Walk::default();
    let root = dir.canonicalize()?;
    if !root.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    walk_into(dir, String::new(), &mut vec![root], &mut out)?;
    out.files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    out.unfollowed.sort();
    Ok(out)
}

/// Walks `dir` (relative path `rel`), whose real path and those of its ancestors are
/// `ancestors`.
fn walk_into(
    dir: &Path,
    rel: String,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Walk,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = entry.path();
        let file_type = entry.file_type()?;
        // `metadata` follows symlinks; a dangling one has no target to describe.
        let meta = if file_type.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    out.unfollowed.push((child_rel, Skip::BrokenSymlink));
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            entry.metadata()?
        };
        if meta.is_dir() {
            let real = path.canonicalize()?;
            if ancestors.contains(&real) {
                out.unfollowed.push((child_rel, Skip::SymlinkCycle));
                continue;
            }
            ancestors.push(real);
            walk_into(&path, child_rel, ancestors, out)?;
            ancestors.pop();
        } else if meta.is_file() {
            out.files.push(Found {
                path,
                rel: child_rel,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn images_hidden_files_and_other_files() {
        for image in ["3/a.png", "cat/B.JPG", "x/y/z.Jpeg", "c/a.b/d.png"] {
            assert_eq!(skip_reason(image), None, "{image}");
        }
        for (rel, why) in [
            (".DS_Store", Skip::Hidden),
            ("3/.DS_Store", Skip::Hidden),
            ("3/._a.png", Skip::Hidden),
            (".ipynb_checkpoints/3/a.png", Skip::Hidden),
            ("README.txt", Skip::NotImage),
            ("3/notes.txt", Skip::NotImage),
            ("3/png", Skip::NotImage),
            ("3/a.png.bak", Skip::NotImage),
            ("3/a.gif", Skip::NotImage),
        ] {
            assert_eq!(skip_reason(rel), Some(why), "{rel}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn walk_follows_symlinks_and_stops_at_cycles() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(root.join("a/1.png"), b"1").unwrap();
        std::fs::write(elsewhere.join("2.png"), b"2").unwrap();
        symlink(&elsewhere, root.join("b")).unwrap();
        symlink(elsewhere.join("2.png"), root.join("a/linked.png")).unwrap();
        symlink(&root, root.join("a/loop")).unwrap();
        symlink(dir.path().join("gone"), root.join("a/dead.png")).unwrap();

        let found = walk(&root).unwrap();
        let rels: Vec<&str> = found.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["a/1.png", "a/linked.png", "b/2.png"]);
        assert_eq!(
            found.unfollowed,
            [
                ("a/dead.png".to_string(), Skip::BrokenSymlink),
                ("a/loop".to_string(), Skip::SymlinkCycle)
            ]
        );
    }
}
