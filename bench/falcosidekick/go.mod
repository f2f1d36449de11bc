// Wrapper module that builds falcosidekick's main package for the ingest benchmark
// (scripts/bench-ingest.sh). The requirement is added by the script at the commit it pins
// (FALCOSIDEKICK_REF), in a temporary copy: `go get github.com/falcosecurity/falcosidekick@REF`
// resolves it to a pseudo-version (falcosidekick's tags have no "v" prefix, so the module
// proxy only serves pseudo-versions), then `go build github.com/falcosecurity/falcosidekick`.
module zen-watcher.local/bench/falcosidekick

go 1.23.0

// Repeated from falcosidekick's own go.mod (replace directives of a dependency are ignored).
replace github.com/imdario/mergo => dario.cat/mergo v0.3.16
