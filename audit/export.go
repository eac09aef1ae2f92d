package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Filter selects rows for export. Zero fields select everything.
type Filter struct {
	Since, Until time.Time // Since ≤ At < Until
	Actor        string    // Slack user ID (or a service identity, "clonebot", or "api:<key id>")
	Tier         string
	Action       string
	Source       string
}

// Exporter reads the rows a filter selects.
type Exporter interface {
	// Export calls fn with every row f selects, in sequence order.
	Export(ctx context.Context, f Filter, fn func(Record) error) error
}

// RecordWriter writes exported rows in one format. Close finishes the document (it does not
// close the underlying writer).
type RecordWriter interface {
	Write(Record) error
	Close() error
}

// ErrUnknownFormat is returned for a format other than csv or json.
var ErrUnknownFormat = errors.New("unknown export format (csv or json)")

// NewRecordWriter returns a writer of format "csv" or "json" to w.
//
// Both carry every stored field, hashes included, so an export can be checked on its own: csv has
// a header row and the details as a JSON object in one column; json is an array of objects.
func NewRecordWriter(format string, w io.Writer) (RecordWriter, error) {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		return &csvWriter{w: cw}, cw.Write(csvHeader)
	case "json":
		return &jsonWriter{w: w}, nil
	}
	return nil, fmt.Errorf("%q: %w", format, ErrUnknownFormat)
}

// ExportTo writes the rows f selects to w. It returns the number written.
func ExportTo(ctx context.Context, src Exporter, f Filter, w RecordWriter) (int, error) {
	n := 0
	err := src.Export(ctx, f, func(r Record) error {
		n++
		return w.Write(r)
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, nil
}

var csvHeader = []string{"seq", "at", "event_id", "request_id", "actor", "actor_name", "action", "tier", "source", "channel", "details", "prev_hash", "hash"}

type csvWriter struct{ w *csv.Writer }

func (c *csvWriter) Write(r Record) error {
	details, err := json.Marshal(detailsOrEmpty(r.Details))
	if err != nil {
		return err
	}
	return c.w.Write([]string{strconv.FormatInt(r.Seq, 10), r.At.UTC().Format(time.RFC3339Nano), r.ID, r.RequestID,
		r.Actor, r.ActorName, r.Action, r.Tier, r.Source, r.Channel, string(details), r.Prev.String(), r.Hash.String()})
}

func (c *csvWriter) Close() error {
	c.w.Flush()
	return c.w.Error()
}

// exportedRecord is a row in the JSON export.
type exportedRecord struct {
	Seq       int64             `json:"seq"`
	At        string            `json:"at"`
	EventID   string            `json:"event_id"`
	RequestID string            `json:"request_id"`
	Actor     string            `json:"actor"`
	ActorName string            `json:"actor_name"`
	Action    string            `json:"action"`
	Tier      string            `json:"tier"`
	Source    string            `json:"source"`
	Channel   string            `json:"channel"`
	Details   map[string]string `json:"details"`
	PrevHash  string            `json:"prev_hash"`
	Hash      string            `json:"hash"`
}

// jsonWriter writes a JSON array, one row per line.
type jsonWriter struct {
	w io.Writer
	n int
}

func (j *jsonWriter) Write(r Record) error {
	b, err := json.Marshal(exportedRecord{Seq: r.Seq, At: r.At.UTC().Format(time.RFC3339Nano), EventID: r.ID,
		RequestID: r.RequestID, Actor: r.Actor, ActorName: r.ActorName, Action: r.Action, Tier: r.Tier,
		Source: r.Source, Channel: r.Channel, Details: detailsOrEmpty(r.Details), PrevHash: r.Prev.String(), Hash: r.Hash.String()})
	if err != nil {
		return err
	}
	sep := ",\n"
	if j.n == 0 {
		sep = "[\n"
	}
	j.n++
	_, err = io.WriteString(j.w, sep+string(b))
	return err
}

func (j *jsonWriter) Close() error {
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}

func detailsOrEmpty(d map[string]string) map[string]string {
	if d == nil {
		return map[string]string{}
	}
	return d
}
