package mask

import (
	"bytes"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// scanColumn is a column whose values the verification gate's detectors read.
type scanColumn struct {
	name  string
	index int // position in the COPY column list
	typ   colType
	paths []pathRule // a document masked by path: its other strings are read
}

// GateColumn is a masked column as the verification gate checks it.
type GateColumn struct {
	Name  string
	Index int // position in the COPY column list
	// Cast is the type sampled originals are cast to before they are compared with the
	// clone's values (numbers, times, uuids, whose text forms vary); "" compares text.
	Cast string
	// JSON is true for a column masked by json paths: the gate compares the scalars at the
	// paths (Originals, CoveredScalars), not the documents.
	JSON bool
	// RowsOnly is true when a masked value may well equal another row's original (noise,
	// shifted dates), so that only a row-by-row comparison says anything.
	RowsOnly bool
}

// GateColumns lists the masked columns in COPY order.
func (m *TableMasker) GateColumns() []GateColumn {
	out := make([]GateColumn, len(m.cols))
	for i, c := range m.cols {
		g := GateColumn{Name: c.name, Index: c.index, JSON: c.rule.strategy == jsonPaths}
		if c.typ.castable() && (c.rule.strategy == byType || c.rule.strategy == noise || c.rule.strategy == shift) {
			g.Cast = c.typ.name
		}
		switch c.rule.strategy {
		case noise, shift:
			g.RowsOnly = true
		case byType:
			g.RowsOnly = c.typ.kind != kindText && c.typ.kind != kindJSON && c.typ.kind != kindUUID && c.typ.kind != kindBytea
		}
		out[i] = g
	}
	return out
}

// Originals returns what the gate must not find again of one original value of a masked
// column: the value itself, or for json paths the scalars under the paths (raw JSON). Values
// the masker maps to themselves (NULL, the empty string, NaN, a document the paths miss) are
// nothing masking can hide and are left out. Use a Clone of the masker that loads the rows.
func (m *TableMasker) Originals(column string, v []byte, null bool) ([][]byte, error) {
	i, ok := m.byName[column]
	if !ok {
		return nil, fmt.Errorf("mask %s: %w: %s has no rule", m.table, ErrUnknownColumn, column)
	}
	c := &m.cols[i]
	if c.rule.strategy != jsonPaths {
		out, outNull, err := m.applyColumn(c, v, null)
		if err != nil {
			return nil, fmt.Errorf("mask %s.%s: %w", m.table, column, err)
		}
		if null || !outNull && bytes.Equal(out, v) {
			return nil, nil
		}
		return [][]byte{bytes.Clone(v)}, nil
	}
	if null {
		return nil, nil
	}
	var leaves [][]byte
	err := jsonLeaves(v, c.rule.paths, func(raw []byte, rl *rule) error {
		if rl == nil {
			return nil
		}
		masked, err := m.maskScalar(nil, rl, raw)
		if err == nil && !bytes.Equal(masked, raw) {
			leaves = append(leaves, bytes.Clone(raw))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mask %s.%s: %w", m.table, column, err)
	}
	return leaves, nil
}

// CoveredScalars returns the scalars (raw JSON) of a document that the column's json paths
// cover, for the gate to compare with sampled originals.
func (m *TableMasker) CoveredScalars(column string, doc []byte) ([][]byte, error) {
	i, ok := m.byName[column]
	if !ok || m.cols[i].rule.strategy != jsonPaths {
		return nil, fmt.Errorf("mask %s: %s has no json paths", m.table, column)
	}
	var out [][]byte
	err := jsonLeaves(doc, m.cols[i].rule.paths, func(raw []byte, rl *rule) error {
		if rl != nil {
			out = append(out, bytes.Clone(raw))
		}
		return nil
	})
	return out, err
}

// ScanColumn is a column the gate's detectors read.
type ScanColumn struct {
	Name  string
	Index int // position in the COPY column list
}

// ScanColumns lists the columns the detectors read, in COPY order of the plan's columns.
func (m *TableMasker) ScanColumns() []ScanColumn {
	out := make([]ScanColumn, len(m.scan))
	for i, s := range m.scan {
		out[i] = ScanColumn{Name: s.name, Index: s.index}
	}
	return out
}

// ScanValues appends to dst the strings of one value that the detectors read: the text
// itself, each element of an array, or each string of a document that no masking path covers.
func (m *TableMasker) ScanValues(dst [][]byte, column string, v []byte) ([][]byte, error) {
	i := -1
	for j := range m.scan {
		if m.scan[j].name == column {
			i = j
		}
	}
	if i < 0 {
		return dst, fmt.Errorf("mask %s: %s is not read by the detectors", m.table, column)
	}
	return scanValues(dst, m.scan[i].typ, m.scan[i].paths, v)
}

func scanValues(dst [][]byte, t colType, paths []pathRule, v []byte) ([][]byte, error) {
	if t.dims > 0 {
		elem := t
		elem.dims = 0
		_, err := maskArray(nil, v, func(e []byte) ([]byte, bool, error) {
			var err error
			dst, err = scanValues(dst, elem, nil, e)
			return nil, false, err
		})
		return dst, err
	}
	if t.kind != kindJSON {
		return append(dst, bytes.Clone(v)), nil
	}
	err := walkJSON(v, func(frames []frame, start, end int) error {
		if v[start] != '"' || paths != nil && leafRule(paths, frames, '"') != nil {
			return nil
		}
		s, err := jsontext.AppendUnquote(nil, v[start:end])
		if err == nil {
			dst = append(dst, s)
		}
		return nil
	})
	return dst, err
}
