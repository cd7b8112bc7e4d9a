// Package config owns apkfarm's TOML configuration: the plain structs it
// decodes into, their defaults, strict decoding (unknown keys are errors) and
// Validate, which reports every problem at once with the key it concerns.
//
// Each section is its own struct in its own file (source, publish, upstream,
// state, plan here; build is owned by the build work; [[mirrors]] in
// mirror.go), so sections can grow without touching each other. Nothing here reads the files a configuration
// names: paths are checked for form, not existence; the code that opens them
// reports what is missing. Secrets never appear in the configuration, only
// paths to them.
package config
