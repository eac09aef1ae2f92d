package yamlerr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

// word is a type with its own UnmarshalYAML, as approvals.Duration has.
type word string

func (w *word) UnmarshalYAML(n *yaml.Node) error {
	if n.Value != "yes" && n.Value != "no" {
		return fmt.Errorf("%q is not yes or no", n.Value)
	}
	*w = word(n.Value)
	return nil
}

type inner struct {
	Name  string   `yaml:"name"`
	Items []string `yaml:"items"`
}

type config struct {
	Interval time.Duration    `yaml:"interval"`
	Port     int              `yaml:"port"`
	Enabled  bool             `yaml:"enabled"`
	Ratio    float64          `yaml:"ratio"`
	Answer   word             `yaml:"answer"`
	Inner    inner            `yaml:"inner"`
	Sources  map[string]inner `yaml:"sources"`
	Maybe    *inner           `yaml:"maybe"`
	Small    uint8            `yaml:"small"`
	Skipped  string           `yaml:"-"`
	hidden   string           // unexported: no key sets it
}

func TestErrors(t *testing.T) {
	tests := []struct{ name, give, want string }{
		{"empty", "", "the file is empty (or holds only comments)"},
		{"only comments", "# nothing yet\n\n", "the file is empty (or holds only comments)"},
		{"only null", "~\n", "the file is empty (or holds only comments)"},
		{"two documents", "port: 1\n---\nport: 2\n", "line 2: a second document (after ---): a file holds one"},
		{"syntax: the bad line, not the one before", "port: 1\ninner:\n  name: a\n items: [b]\n",
			"line 4: not valid YAML: did not find expected key (parsing a block mapping that starts at line 1)"},
		{"syntax: unclosed quote", "port: 1\ninner: {name: \"a}\nenabled: true\n",
			"line 4: not valid YAML: found unexpected end of stream (scanning a quoted scalar that starts at line 2)"},
		{"syntax: a tab", "port: 1\n\tenabled: true\n", "line 2: not valid YAML: found a tab character that violates indentation"},
		{"unknown key, a typo", "port: 1\ninner:\n  nmae: a\n", `inner.nmae (line 3): unknown key "nmae" (did you mean name?); allowed keys: name, items`},
		{"unknown key, no near one", "colour: red\n", `colour (line 1): unknown key "colour"; allowed keys: interval, port, enabled, ratio, answer, inner, sources, maybe, small`},
		{"unknown key in a map's value", "sources:\n  prod: {name: p, itemz: []}\n", `sources.prod.itemz (line 2): unknown key "itemz" (did you mean items?); allowed keys: name, items`},
		{"a key given twice", "port: 1\nport: 2\n", "port (line 2): given twice (first at line 1)"},
		{"a duration without unit", "interval: 5\n", "interval (line 1): 5 is not a duration: give a unit, like 5s or 5m"},
		{"a duration that is not one", "interval: soon\n", `interval (line 1): "soon" is not a duration like 30s, 5m or 8h`},
		{"a number that is not one", "port: lots\n", `port (line 1): "lots" is not a whole number`},
		{"a number out of range", "port: 99999999999999999999\n", `port (line 1): "99999999999999999999" is not a whole number`},
		{"a number too big for its field", "small: 300\n", "small (line 1): 300 is out of range"},
		{"not a bool", "enabled: sometimes\n", `enabled (line 1): "sometimes" is not true or false`},
		{"not a float", "ratio: half\n", `ratio (line 1): "half" is not a number`},
		{"a type's own refusal", "answer: maybe\n", `answer (line 1): "maybe" is not yes or no`},
		{"a list where a value goes", "inner:\n  name: [a, b]\n", "inner.name (line 2): must be a single value, not a list"},
		{"a value where a list goes", "inner:\n  items: a\n", `inner.items (line 2): must be a list, like [a, b], not "a"`},
		{"a value where a mapping goes", "inner: a\n", `inner (line 1): must be a mapping of keys (name, items), not "a"`},
		{"a list item", "inner:\n  items: [a, [b]]\n", "inner.items.1 (line 2): must be a single value, not a list"},
		{"a hidden field is no key", "hidden: x\n", `hidden (line 1): unknown key "hidden"; allowed keys: interval, port, enabled, ratio, answer, inner, sources, maybe, small`},
		{"a skipped field is no key", "skipped: x\n", `skipped (line 1): unknown key "skipped"; allowed keys: interval, port, enabled, ratio, answer, inner, sources, maybe, small`},
		{"the root is a list", "- a\n", "line 1: must be a mapping of keys (interval, port, enabled, ratio, answer, inner, sources, maybe, small), not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c config
			_, err := Load([]byte(tt.give), &c)
			var e *Error
			if !errors.As(err, &e) || err.Error() != tt.want {
				t.Fatalf("Load = %v (%T)\nwant %s", err, err, tt.want)
			}
			if strings.Contains(err.Error(), "yamlerr.") || strings.Contains(err.Error(), "time.Duration") {
				t.Fatalf("a Go type name in %q", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	var c config
	root, err := Load([]byte("interval: 90s\nport: 5432\nenabled: true\nratio: 0.5\nanswer: yes\ninner: {name: a, items: [b, c]}\nsources:\n  prod: {name: p}\nmaybe: ~\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != 90*time.Second || c.Port != 5432 || !c.Enabled || c.Ratio != 0.5 || c.Answer != "yes" ||
		c.Inner.Name != "a" || len(c.Inner.Items) != 2 || c.Sources["prod"].Name != "p" || c.Maybe != nil || c.hidden != "" {
		t.Fatalf("decoded %+v", c)
	}
	lines := Lines(root)
	if lines["inner.items.1"] != 6 || lines["sources.prod.name"] != 8 || lines["port"] != 2 {
		t.Fatalf("lines %v", lines)
	}
}

func TestEmptyIsErrEmpty(t *testing.T) {
	if _, err := Parse([]byte("\n# c\n")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("err = %v", err)
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"masknig", "masking", 1}, {"", "abc", 3}, {"approvers", "approvers", 0}, {"requestors", "requesters", 1}, {"ttl", "max_ttl", 4}} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestHelpersForWalkers checks what a loader that walks nodes itself (the masking rules) uses:
// errors under a path, keys given twice, suggestions, and the file in the message.
func TestHelpersForWalkers(t *testing.T) {
	root, err := Parse([]byte("levels:\n  full:\n    port: many\n    port: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	full := root.Content[1].Content[1]
	var port int
	if err := DecodeAt(full.Content[1], "levels.full.port", &port); err == nil || err.Error() != `levels.full.port (line 3): "many" is not a whole number` {
		t.Errorf("DecodeAt: %v", err)
	}
	err = EachKey(full, "levels.full", func(k, v *yaml.Node, path string) error { return nil })
	var e *Error
	if !errors.As(err, &e) || e.Path != "levels.full.port" || e.Line != 4 || e.Msg != "given twice (first at line 3)" {
		t.Errorf("EachKey: %v", err)
	}
	if got := e.InFile("masking rules", "m.yaml"); got != "masking rules m.yaml: levels.full.port (line 4): given twice (first at line 3)" {
		t.Errorf("InFile: %s", got)
	}
	if got := e.InFile("policy", ""); !strings.HasPrefix(got, "policy: levels.full.port") {
		t.Errorf("InFile without a name: %s", got)
	}
	if got := UnknownKey(full.Content[0], "levels.full.port", []string{"part", "sort"}).Error(); got != `levels.full.port (line 3): unknown key "port" (did you mean part?); allowed keys: part, sort` {
		t.Errorf("UnknownKey: %s", got)
	}
	if Nearest("fake-mail", []string{"token", "fake-email"}) != "fake-email" || Nearest("scramble", []string{"token"}) != "" || DidYouMean("x", nil) != "" {
		t.Error("Nearest or DidYouMean is wrong")
	}
}
