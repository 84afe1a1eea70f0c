//! The `env` and `cwd` builder methods shared by everything that starts a program in the
//! container (exec options, task and terminal specs).

/// Implements `env(key, value)` and `cwd(dir)` for a builder struct with `env:
/// Vec<(String, String)>` and `cwd: Option<String>` fields.
macro_rules! env_builders {
    ($spec:ty) => {
        impl $spec {
            /// Adds an environment variable.
            pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                self.env.push((key.into(), value.into()));
                self
            }
            /// Sets the working directory inside the container.
            pub fn cwd(mut self, dir: impl Into<String>) -> Self {
                self.cwd = Some(dir.into());
                self
            }
        }
    };
}
pub(crate) use env_builders;
