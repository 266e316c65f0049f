//! Paths a spec names (env_file, secrets, configs, build, bind mounts, label_file, `.env`):
//! absolute, `../`, symlinked out or to the engine socket, or swapped after `check` — refused
//! for uploads always, and in embedded mode unless the local admin names the directory.
