//! The shapes most settings share, as macros building a [`super::Setting`]: a count, a
//! duration, a file path, a switch. `list.rs` uses them; one entry a line of arguments.

/// A setting holding a count above zero at `$($field)+` of the config.
macro_rules! count {
    ($key:literal, $env:literal, $help:literal, $($field:tt)+) => {
        Setting {
            key: $key,
            env: $env,
            value_name: "N",
            help: $help,
            default: None,
            switch: false,
            apply: |c, name, v| {
                c.$($field)+ = parse_count(name, v)?;
                Ok(())
            },
            show: |c| Some(count_value(c.$($field)+)),
        }
    };
}

/// A setting holding a duration above zero at `$($field)+` of the config.
macro_rules! duration {
    ($key:literal, $env:literal, $help:literal, $($field:tt)+) => {
        Setting {
            key: $key,
            env: $env,
            value_name: "DURATION",
            help: $help,
            default: None,
            switch: false,
            apply: |c, name, v| {
                c.$($field)+ = parse_duration(name, v)?;
                Ok(())
            },
            show: |c| Some(duration_value(c.$($field)+)),
        }
    };
}

/// A setting holding a file path at `$($field)+` of the config (an `Option<PathBuf>`).
macro_rules! path {
    ($key:literal, $env:literal, $help:literal, $default:literal, $($field:tt)+) => {
        Setting {
            key: $key,
            env: $env,
            value_name: "PATH",
            help: $help,
            default: Some($default),
            switch: false,
            apply: |c, name, v| {
                c.$($field)+ = Some(parse_path(name, v)?);
                Ok(())
            },
            show: |c| c.$($field)+.as_ref().map(|p| text(p.display().to_string())),
        }
    };
}

/// A switch (a flag without a value; `true`/`false` in the file and the environment) at
/// `$field` of the config.
macro_rules! switch {
    ($key:literal, $env:literal, $help:literal, $field:ident) => {
        Setting {
            key: $key,
            env: $env,
            value_name: "BOOL",
            help: $help,
            default: None,
            switch: true,
            apply: |c, name, v| {
                c.$field = parse_flag(name, v)?;
                Ok(())
            },
            show: |c| Some(toml::Value::Boolean(c.$field)),
        }
    };
}
