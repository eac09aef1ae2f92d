// Package yamlerr reads clonebot's own YAML files (the config, the policy, the masking rules)
// strictly, and says what is wrong with one in words its author can act on: the dotted path of
// the bad key ("tiers.debug.masknig"), its line, and what is allowed there ("allowed keys:
// masking, approval, ..."; "a duration like 30m or 8h"), never a Go type name. A syntax error
// names the line where the problem is (go.yaml.in/yaml/v4 reports it; yaml.v3 reported some a
// line early), and an empty file says so.
//
// Parse reads a file into a node tree; Decode checks a tree against a Go type and decodes it;
// Load does both. A loader that walks nodes itself (the masking rules) uses Parse, EachKey
// (keys in file order, none twice), DecodeAt (one value at a path) and UnknownKey or
// DidYouMean, and reports its own findings with At, so every file's errors read alike; InFile
// names the file. Lines maps each path to its line, for errors found after decoding (a
// policy's Validate).
//
// It does no I/O and imports nothing from this repository.
package yamlerr
