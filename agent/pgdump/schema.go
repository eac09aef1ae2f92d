package pgdump

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// schemaDescs are the archive entries whose definitions say what the tables are.
var schemaDescs = map[string]bool{"TABLE": true, "FOREIGN TABLE": true, "TABLE ATTACH": true, "DOMAIN": true, "TYPE": true}

// Schema reads the tables of the archive from its table of contents; no data is read.
func (a *Archive) Schema() (*Schema, error) {
	s := newSchema()
	for _, e := range a.Entries {
		switch {
		case e.Desc == "STDSTRINGS":
			s.stdStrings = !strings.Contains(strings.ToLower(e.Defn), "off")
		case e.Desc == "BLOB":
			s.LargeObjects++
		case e.Desc == "TABLE DATA" && e.HasData && strings.TrimSpace(e.CopyStmt) == "":
			if name := e.QualifiedName(); !slices.Contains(s.Inserts, name) {
				s.Inserts = append(s.Inserts, name)
			}
		case schemaDescs[e.Desc]:
			sr := NewScriptReader(strings.NewReader(e.Defn))
			for {
				it, err := sr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("entry %d %s %s: %w", e.DumpID, e.Desc, e.QualifiedName(), err)
				}
				s.statement(it.SQL)
			}
		}
	}
	s.finish()
	return s, nil
}

// ReadScriptSchema reads a whole SQL script (gzip-compressed or not, see OpenScript) and
// returns its schema. Each COPY block is handed to rows, when not nil, as it comes; rows it
// leaves unread are skipped. Reading the script to its end also proves it complete: errors
// wrap ErrCorrupt for a damaged or truncated script, ErrUnsupported for what OpenScript
// refuses.
func ReadScriptSchema(r io.Reader, rows func(*CopyBlock) error) (*Schema, error) {
	sr, err := OpenScript(r)
	if err != nil {
		return nil, err
	}
	s := newSchema()
	for {
		it, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		s.stdStrings = sr.stdStrings
		switch {
		case it.Meta != "":
		case it.Copy != nil:
			if rows != nil {
				if err := rows(it.Copy); err != nil {
					return nil, err
				}
			}
		case it.Desc == "BLOB":
			s.LargeObjects++
		case it.Desc == "TABLE DATA":
			s.insert(it.SQL)
		default:
			s.statement(it.SQL)
		}
	}
	s.finish()
	return s, nil
}
