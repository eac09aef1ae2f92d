package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/clonebot/clonebot/internal/golden"
)

// exporterFunc is an Exporter.
type exporterFunc func(f Filter, fn func(Record) error) error

func (e exporterFunc) Export(_ context.Context, f Filter, fn func(Record) error) error {
	return e(f, fn)
}

// TestExportFormats: both formats carry every field (golden files), parse back, and an empty
// export is still a valid document.
func TestExportFormats(t *testing.T) {
	s := newScenario()
	events := slices.Clone(s.events[:4])
	events[1].Details = map[string]string{"decision": "approve", "reason": "a, \"quoted\"\nline"} // CSV quoting, JSON escaping
	rows := Link(Head{}, events)
	src := exporterFunc(func(_ Filter, fn func(Record) error) error {
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			w, err := NewRecordWriter(format, &b)
			if err != nil {
				t.Fatal(err)
			}
			n, err := ExportTo(context.Background(), src, Filter{}, w)
			if err != nil || n != 4 {
				t.Fatalf("exported %d, %v", n, err)
			}
			golden.Check(t, "export."+format, b.Bytes())
			switch format {
			case "csv":
				recs, err := csv.NewReader(&b).ReadAll()
				if err != nil || len(recs) != 5 {
					t.Fatalf("csv read back: %d records, %v", len(recs), err)
				}
				var details map[string]string
				if err := json.Unmarshal([]byte(recs[2][10]), &details); err != nil || details["reason"] != events[1].Details["reason"] {
					t.Fatalf("details column %q: %v", recs[2][10], err)
				}
				if recs[4][12] != rows[3].Hash.String() {
					t.Fatalf("hash column %q", recs[4][12])
				}
			case "json":
				var back []exportedRecord
				if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != 4 {
					t.Fatalf("json read back: %d, %v", len(back), err)
				}
				if back[1].Details["reason"] != "a, \"quoted\"\nline" || back[3].Hash != rows[3].Hash.String() {
					t.Fatalf("json row %+v", back[1])
				}
			}
		})
	}
	var b bytes.Buffer
	w, _ := NewRecordWriter("json", &b)
	if _, err := ExportTo(context.Background(), exporterFunc(func(Filter, func(Record) error) error { return nil }), Filter{}, w); err != nil || b.String() != "[]\n" {
		t.Fatalf("empty json export %q, %v", b.String(), err)
	}
	if _, err := NewRecordWriter("xml", &b); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("xml: %v", err)
	}
}
