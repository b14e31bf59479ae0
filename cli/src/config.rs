//! Profiles: api addresses and tokens kept in the per-user config file
//! (`<config dir>/faas/config.toml`, or `FAAS_CONFIG`), written by
//! `faas login` with permissions 0600, since it holds tokens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The profile used when none is named and none was stored.
pub const DEFAULT_PROFILE: &str = "default";

/// The config file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The profile used when none is named: the last one logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One api and its token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    /// The api's address.
    pub url: String,
    /// The bearer token, if the api needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Where the config file is: `FAAS_CONFIG`, else the per-user config
/// directory's `faas/config.toml`.
pub fn path() -> Option<PathBuf> {
    match std::env::var_os("FAAS_CONFIG") {
        Some(path) => Some(PathBuf::from(path)),
        None => Some(dirs::config_dir()?.join("faas").join("config.toml")),
    }
}

impl ConfigFile {
    /// Reads it; a missing file is an empty one.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The profile named, else the current one.
    pub fn profile(&self, name: Option<&str>) -> Option<&Profile> {
        self.profiles.get(name.or(self.current.as_deref()).unwrap_or(DEFAULT_PROFILE))
    }

    /// Writes it readable by its owner only, replacing the file at once.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = toml::to_string_pretty(self)?;
        let temporary = path.with_extension("toml.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file =
            options.open(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
        // An older file of that name keeps its mode on open: set it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
