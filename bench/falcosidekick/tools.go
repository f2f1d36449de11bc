//go:build tools

// Package tools keeps falcosidekick in this module's requirements under `go mod tidy`.
// A main package cannot be imported by code that is compiled; the "tools" build tag is
// never set, so this file only records the dependency. The binary is built with
// `go build github.com/falcosecurity/falcosidekick` from this directory.
package tools

import _ "github.com/falcosecurity/falcosidekick"
