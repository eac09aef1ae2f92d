package mask

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/go-json-experiment/json/jsontext"
)

// ColumnReport is one column as clonebot masking check reports it.
type ColumnReport struct {
	ColumnPlan
	// Sampled is how many values of the column were read (NULLs left out).
	Sampled int
	// Findings are the detectors that recognised the sampled values (the strings of arrays
	// and documents included), the largest share first.
	Findings []Finding
	// Suggest is the rule suggested for a column no rule or keep decides (YAML flow, or
	// keep), "" for the others.
	Suggest string
	// Note says why, or warns about a kept column whose values look personal.
	Note string
}

// Report is what clonebot masking check prints: every column's plan, what the detectors
// found in sampled values, and a rule for each column that no rule or keep decides.
type Report struct {
	Summary Summary
	Columns []ColumnReport
}

// Report reads the sampled values of every column (sample returns a column's non-NULL values,
// decoded) with the detectors and suggests rules. The values never reach the report.
func (pl *Plan) Report(sample func(table, column string) [][]byte) Report {
	r := Report{Summary: pl.Summary()}
	for _, name := range pl.order {
		for _, c := range pl.tables[name].cols {
			values := sample(c.Table, c.Column)
			cr := ColumnReport{ColumnPlan: c.ColumnPlan, Sampled: len(values)}
			undecided := c.Treatment == Unclassified || c.Treatment == KeptByPolicy || c.Treatment == MaskedByType
			if c.typ.kind == kindJSON && c.typ.dims == 0 {
				cr.Suggest, cr.Note, cr.Findings = suggestJSON(values)
			} else {
				var strs [][]byte
				if c.typ.textLike() {
					for _, v := range values {
						strs, _ = scanValues(strs, c.typ, nil, v)
					}
				} else {
					strs = values
				}
				cr.Findings = DetectValues(strs)
				cr.Suggest, cr.Note = suggest(c.Column, c.typ, cr.Findings, len(values))
			}
			if !undecided {
				cr.Suggest, cr.Note = "", ""
				if c.Treatment == Kept && len(cr.Findings) > 0 {
					f := cr.Findings[0]
					cr.Note = fmt.Sprintf("declared keep, but values look like %s (%d of %d sampled)", f.Detector.Name, f.Hits, f.Sampled)
				}
			}
			r.Columns = append(r.Columns, cr)
		}
	}
	return r
}

// suggest returns the rule for a column from what its values and its name say.
func suggest(column string, t colType, findings []Finding, sampled int) (rule, note string) {
	d, byName := DetectName(column)
	switch {
	case len(findings) > 0:
		f := findings[0]
		return ruleOf(f.Detector, t), fmt.Sprintf("values look like %s (%d of %d sampled)", f.Detector.Name, f.Hits, f.Sampled)
	case byName:
		return ruleOf(d, t), "its name suggests " + d.Name
	case sampled == 0:
		return Keep, "no values to sample: keep it if it holds no personal data"
	}
	return Keep, fmt.Sprintf("nothing found in %d sampled values: keep it if it holds no personal data", sampled)
}

// ruleOf adapts a detector's rule to the column's type.
func ruleOf(d *Detector, t colType) string {
	switch {
	case t.name == "inet" || t.name == "cidr":
		return "{strategy: null}"
	case d.Name == "dates of birth" && t.kind != kindText && t.kind != kindDate && t.kind != kindTimestamp:
		return "{strategy: null}"
	}
	return d.Rule
}

// suggestJSON suggests rules by path for a document column: the strings at each path (array
// positions as [*]) are read by the detectors on their own.
func suggestJSON(docs [][]byte) (string, string, []Finding) {
	byPath := map[string][][]byte{}
	for _, doc := range docs {
		_ = walkJSON(doc, func(frames []frame, start, end int) error {
			if doc[start] != '"' {
				return nil
			}
			if s, err := jsontext.AppendUnquote(nil, doc[start:end]); err == nil {
				p := pathText(frames)
				byPath[p] = append(byPath[p], s)
			}
			return nil
		})
	}
	var rules, notes []string
	var all []Finding
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		f := DetectValues(byPath[p])
		if len(f) == 0 || p == "" {
			continue
		}
		all = append(all, f[0])
		rules = append(rules, yamlKey(p)+": "+f[0].Detector.Rule)
		notes = append(notes, fmt.Sprintf("%s: %s (%d of %d)", p, f[0].Detector.Name, f[0].Hits, f[0].Sampled))
	}
	if len(rules) == 0 {
		return Keep, fmt.Sprintf("nothing found in the strings of %d sampled documents: keep it if it holds no personal data", len(docs)), nil
	}
	return "{json: {" + strings.Join(rules, ", ") + "}}", "strings look personal at " + strings.Join(notes, "; "), all
}

// pathText writes the path of a scalar as json paths are written, array positions as [*].
func pathText(frames []frame) string {
	var b strings.Builder
	for _, f := range frames {
		if f.array {
			b.WriteString("[*]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(f.name)
	}
	return b.String()
}

// WriteText writes the report as a table: one line per column with its plan and note.
func (r Report) WriteText(w io.Writer) error {
	s := r.Summary
	if _, err := fmt.Fprintf(w, "level %s (unclassified: %s): %d columns in %d tables: %d masked, %d kept, %d unclassified\n\n",
		s.Level, s.Policy, s.Columns, s.Tables, s.Masked, s.Kept, s.Unclassified); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tCOLUMN\tTYPE\tPLAN\tNOTE")
	for _, c := range r.Columns {
		plan := c.Treatment.String()
		if c.Strategy != "" {
			plan += " (" + c.Strategy + ")"
		}
		if c.From != "" {
			plan += ", from " + c.From
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Table, c.Column, c.Type, plan, c.Note)
	}
	return tw.Flush()
}

// WriteSuggestions writes the suggested rules as a rules file fragment, ready to merge: one
// entry per column that no rule or keep decides. It writes nothing when there is none.
func (r Report) WriteSuggestions(w io.Writer) error {
	byTable := map[string][]ColumnReport{}
	var order []string
	for _, c := range r.Columns {
		if c.Suggest == "" {
			continue
		}
		if _, seen := byTable[c.Table]; !seen {
			order = append(order, c.Table)
		}
		byTable[c.Table] = append(byTable[c.Table], c)
	}
	if len(order) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Suggested rules for the columns that no rule or keep decides: merge them into the rules\n")
	fmt.Fprintf(&b, "# file under levels.%s. Review every keep: finding nothing in a sample proves nothing.\n", r.Summary.Level)
	fmt.Fprintf(&b, "levels:\n  %s:\n", yamlKey(r.Summary.Level))
	for _, t := range order {
		fmt.Fprintf(&b, "    %s:\n", yamlKey(t))
		for _, c := range byTable[t] {
			fmt.Fprintf(&b, "      %s: %s  # %s\n", yamlKey(c.Column), c.Suggest, c.Note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var plainYAMLKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// yamlKey writes a name as a YAML key, quoted when it needs to be.
func yamlKey(s string) string {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return strconv.Quote(s)
	}
	if plainYAMLKey.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}
