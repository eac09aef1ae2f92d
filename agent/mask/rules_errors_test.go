package mask

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestRulesErrorsGolden keeps every kind of mistake in a rules file as its author reads it in
// testdata/rules_errors.golden (go test -update rewrites it): the file, the key's path, its
// line, what is allowed there and, for a typo, the nearest word; never the YAML decoder's
// words (issue 13, item 2).
func TestRulesErrorsGolden(t *testing.T) {
	data, err := os.ReadFile("../../deploy/masking.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example := string(data)
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(example, old) {
			t.Fatalf("the example rules have no %q", old)
		}
		return strings.Replace(example, old, new, 1)
	}
	const email = "      email: {strategy: fake-email, unique: true}\n"
	tests := []struct{ name, give string }{
		// the file
		{"an empty file", ""},
		{"only comments", "# masking rules: to be written\n"},
		{"a list, not a mapping", "- full\n"},
		{"a typo in the top-level key", strings.Replace(example, "levels:", "level:", 1)},
		{"levels as a list", "levels: [full, partial]\n"},
		{"no level", "levels: {}\n"},
		{"a second document", example + "---\nlevels: {none: }\n"},
		{"misindented key", edit("      ssn: {strategy: fake-ssn}\n", "     ssn: {strategy: fake-ssn}\n")},
		{"an unclosed quote", edit(`- "*.*.paid_at"`, `- "*.*.paid_at`)},
		{"a tab", edit("      ssn: {strategy: fake-ssn}\n", "\tssn: {strategy: fake-ssn}\n")},
		// a level
		{"a level that is a word", edit("  none:\n    large_objects: keep", "  none: nothing")},
		{"a level given twice", example + "  full:\n    public.users: keep\n"},
		{"a typo in unclassified", edit("    unclassified: refuse\n", "    unclasified: refuse\n")},
		{"a typo in large_objects", edit("    large_objects: keep", "    large_object: keep")},
		{"a typo in keep", edit("    keep:\n      - \"*.*.id\"", "    kep:\n      - \"*.*.id\"")},
		{"an unclassified policy that does not exist", edit("unclassified: refuse", "unclassified: mask")},
		{"a large_objects policy that does not exist", edit("    large_objects: keep", "    large_objects: mask-by-type")},
		{"keep that is not a list", edit("    keep:\n      - \"*.*.id\"\n      - \"*.*.*_id\"\n      - \"*.*.created_at\"\n      - \"*.*.paid_at\"\n    public.users:\n      email: {strategy: fake-email",
			"    keep: \"*.*.id\"\n    public.users:\n      email: {strategy: fake-email")},
		{"a keep pattern of two parts", edit(`- "*.*.paid_at"`, `- "*.paid_at"`)},
		{"a keep pattern that is no glob", edit(`- "*.*.paid_at"`, `- "*.*.[paid"`)},
		// a table
		{"a table of three parts", edit("    public.payments:\n      card_number: {strategy: fake-card}", "    public.pay.ments:\n      card_number: {strategy: fake-card}")},
		{"a table given twice", edit("    public.payments:\n      card_number: {strategy: fake-card}", "    public.users: keep\n    public.payments:\n      card_number: {strategy: fake-card}")},
		{"a table given with and without its schema", edit("    public.payments:\n      card_number: {strategy: fake-card}", "    users: keep\n    public.payments:\n      card_number: {strategy: fake-card}")},
		{"a table that is a word", edit("    public.payments:\n      card_number: {strategy: fake-card}\n      amount: keep\n", "    public.payments: safe\n")},
		// a column
		{"a column given twice", edit(email, email+email)},
		{"a column that is a strategy's name", edit("ssn: {strategy: fake-ssn}", "ssn: fake-ssn")},
		{"a column that is a list", edit("ssn: {strategy: fake-ssn}", "ssn: [fake-ssn]")},
		{"a typo in a rule's key", edit("ssn: {strategy: fake-ssn}", "ssn: {stratgy: fake-ssn}")},
		{"a key that is nowhere near one", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: fake-ssn, salt: x}")},
		{"a rule without a strategy", edit("ssn: {strategy: fake-ssn}", "ssn: {unique: true}")},
		{"a typo in a strategy", edit("{strategy: fake-email, unique: true}", "{strategy: fake-mail, unique: true}")},
		{"a strategy that does not exist", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: scramble}")},
		{"a strategy that is a list", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: [fake-ssn]}")},
		{"an option of another strategy", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: fake-ssn, length: 8}")},
		{"unique that is not true or false", edit("unique: true}\n      ssn", "unique: maybe}\n      ssn")},
		{"unique on a small value space", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: fake-ssn, unique: true}")},
		{"a unique token too short", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: token, length: 12, unique: true}")},
		{"a token too long", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: token, format: base32, length: 60}")},
		{"a token format that does not exist", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: token, format: base64}")},
		{"a length that is no number", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: token, length: short}")},
		{"a negative keep_last", edit("keep_first: 0, keep_last: 4}   # ***", "keep_first: 0, keep_last: -4}   # ***")},
		{"a noise percent out of range", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: noise, percent: 150}")},
		{"fixed without a value", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: fixed}")},
		{"fixed with a null value", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: fixed, value: null}")},
		{"a merge key", edit("ssn: {strategy: fake-ssn}", "ssn: {<<: {strategy: fake-ssn}}")},
		{"a column without a name", edit("ssn: {strategy: fake-ssn}", `"": {strategy: fake-ssn}`)},
		// json paths
		{"json paths that are a list", edit("ssn: {strategy: fake-ssn}", "profile: {json: [email]}")},
		{"json paths and a strategy", edit("ssn: {strategy: fake-ssn}", "profile: {strategy: null, json: {email: {strategy: fake-email}}}")},
		{"json paths that name no path", edit("ssn: {strategy: fake-ssn}", "profile: {json: {}}")},
		{"a json path with an empty member", edit("ssn: {strategy: fake-ssn}", `profile: {json: {"a..b": {strategy: null}}}`)},
		{"a json path with a bad index", edit("ssn: {strategy: fake-ssn}", `profile: {json: {"a[x]": {strategy: null}}}`)},
		{"json paths inside json paths", edit("ssn: {strategy: fake-ssn}", "profile: {json: {a: {json: {b: {strategy: null}}}}}")},
		{"a json path's rule without a strategy", edit("ssn: {strategy: fake-ssn}", "profile: {json: {email: {unique: true}}}")},
	}
	var out strings.Builder
	for _, tt := range tests {
		_, err := ParseRulesFile("masking.yaml", []byte(tt.give))
		var re *RulesError
		if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRules) {
			t.Errorf("%s: %v (%T), want a *RulesError matching ErrInvalidRules", tt.name, err, err)
			continue
		}
		if re.Line == 0 && !strings.Contains(re.Msg, "empty") {
			t.Errorf("%s: %q names no line", tt.name, err)
		}
		for _, decoderWords := range []string{"mask.", "yaml.", "!!", "construct", "EOF", "cannot unmarshal"} {
			if strings.Contains(err.Error(), decoderWords) {
				t.Errorf("%s: %q shows the decoder's words %q", tt.name, err, decoderWords)
			}
		}
		fmt.Fprintf(&out, "# %s\n%s\n\n", tt.name, err)
	}
	golden(t, "rules_errors.golden", out.String())
}
