package pgdump

import "strings"

// classify tells the section and pg_dump TOC description of a statement, and tracks the
// script's current section and standard_conforming_strings setting.
func (s *ScriptReader) classify(stmt string) (Section, string) {
	w := leadingWords(stmt, 8)
	has := func(i int, words ...string) bool {
		for j, word := range words {
			if len(w) <= i+j || w[i+j] != word {
				return false
			}
		}
		return true
	}
	section, desc := SectionNone, ""
	switch {
	case has(0, "copy"):
		if _, err := parseCopyStmt(stmt); err == nil {
			section, desc = SectionData, "TABLE DATA"
		}
	case has(0, "insert", "into"):
		section, desc = SectionData, "TABLE DATA"
	case has(0, "select", "pg_catalog", ".", "setval"):
		section, desc = SectionData, "SEQUENCE SET"
	case has(0, "select", "pg_catalog", ".", "lo_create"):
		desc = "BLOB"
	case has(0, "select", "pg_catalog", ".", "lo_open"), has(0, "select", "pg_catalog", ".", "lowrite"),
		has(0, "select", "pg_catalog", ".", "lo_close"):
		section, desc = SectionData, "BLOBS"
	case has(0, "set"), has(0, "select") && strings.Contains(stmt, "set_config("), has(0, "reset"):
		desc = "SET"
		s.noteSetting(w)
	case has(0, "create", "index"), has(0, "create", "unique", "index"):
		section, desc = SectionPostData, "INDEX"
	case has(0, "alter", "index") && containsWords(w, "attach", "partition"):
		section, desc = SectionPostData, "INDEX ATTACH"
	case has(0, "create", "trigger"), has(0, "create", "constraint", "trigger"), has(0, "create", "or", "replace", "trigger"):
		section, desc = SectionPostData, "TRIGGER"
	case has(0, "create", "event", "trigger"):
		section, desc = SectionPostData, "EVENT TRIGGER"
	case has(0, "create", "rule"), has(0, "create", "or", "replace", "rule"):
		section, desc = SectionPostData, "RULE"
	case has(0, "create", "policy"):
		section, desc = SectionPostData, "POLICY"
	case has(0, "create", "statistics"):
		section, desc = SectionPostData, "STATISTICS"
	case has(0, "create", "publication"), has(0, "alter", "publication"):
		section, desc = SectionPostData, "PUBLICATION"
	case has(0, "create", "subscription"):
		section, desc = SectionPostData, "SUBSCRIPTION"
	case has(0, "refresh", "materialized", "view"):
		section, desc = SectionPostData, "MATERIALIZED VIEW DATA"
	case has(0, "alter", "table"):
		section, desc = alterTable(" " + strings.Join(strings.Fields(strings.ToLower(stmt)), " ") + " ")
	}
	if section == SectionNone {
		return s.section, desc
	}
	if section > s.section {
		s.section = section
	}
	return section, desc
}

// alterTable recognises the post-data forms of ALTER TABLE that pg_dump writes.
func alterTable(lower string) (Section, string) {
	switch {
	case strings.Contains(lower, " add constraint ") && strings.Contains(lower, " foreign key"):
		return SectionPostData, "FK CONSTRAINT"
	case strings.Contains(lower, " add constraint "):
		return SectionPostData, "CONSTRAINT"
	case strings.Contains(lower, " enable row level security"), strings.Contains(lower, " force row level security"):
		return SectionPostData, "ROW SECURITY"
	case strings.Contains(lower, " cluster on "), strings.Contains(lower, " replica identity using index "):
		return SectionPostData, "INDEX"
	}
	return SectionNone, ""
}

// noteSetting follows SET standard_conforming_strings, which decides whether a backslash
// escapes in a quoted string.
func (s *ScriptReader) noteSetting(w []string) {
	if len(w) >= 3 && w[0] == "set" && w[1] == "standard_conforming_strings" {
		v := w[2]
		if (v == "to" || v == "=") && len(w) >= 4 {
			v = w[3]
		}
		s.stdStrings = v != "off" && v != "false"
	}
}

func containsWords(w []string, words ...string) bool {
	for i := range w {
		if len(w)-i < len(words) {
			return false
		}
		match := true
		for j, word := range words {
			if w[i+j] != word {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// leadingWords returns up to n leading tokens of stmt in lower case: bare words, and "="
// or quoted values as single tokens.
func leadingWords(stmt string, n int) []string {
	t := sqlTokens{s: stmt}
	var w []string
	for len(w) < n {
		tok, ok := t.next()
		if !ok {
			break
		}
		if tok.quoted {
			w = append(w, tok.text)
			continue
		}
		if tok.text == "'" {
			end := strings.IndexByte(t.s[t.i:], '\'')
			if end < 0 {
				break
			}
			w = append(w, strings.ToLower(t.s[t.i:t.i+end]))
			t.i += end + 1
			continue
		}
		w = append(w, strings.ToLower(tok.text))
	}
	return w
}
