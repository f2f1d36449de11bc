//! A bearer token read from a file (a mounted Secret) and re-read when the file changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::file_stamp::{RECHECK, Stamp, stamp};

#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    checked: Instant,
    stamp: Option<Stamp>,
    token: Option<String>,
}

impl TokenFile {
    /// Reads the token once; an unreadable file is an error at start.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let stamp = stamp(path)?;
        let token = read_token(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                checked: Instant::now(),
                stamp: Some(stamp),
                token,
            }),
        })
    }

    /// Calls `f` with the current token (`None`: the file holds none), re-reading the file
    /// first if it changed since the last look.
    pub fn with_token<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            self.refresh(&mut state);
        }
        f(state.token.as_deref())
    }

    fn refresh(&self, state: &mut State) {
        let current = match stamp(&self.path) {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot stat the webhook token file; keeping the last token");
                return;
            }
        };
        if state.stamp == Some(current) {
            return;
        }
        match read_token(&self.path) {
            Ok(token) => {
                tracing::info!(path = %self.path.display(), "webhook token file changed; token reloaded");
                state.token = token;
                state.stamp = Some(current);
            }
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot read the webhook token file; keeping the last token");
            }
        }
    }
}

/// The file's content without surrounding whitespace; an empty file holds no token.
fn read_token(path: &Path) -> std::io::Result<Option<String>> {
    let text = fs::read_to_string(path)?;
    let token = text.trim();
    Ok((!token.is_empty()).then(|| token.to_string()))
}
