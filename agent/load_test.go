package agent

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/clonebot/clonebot/agent/mask"
)

func TestFeedMasked(t *testing.T) {
	rules, err := mask.ParseRules([]byte("levels:\n  full:\n    public.t:\n      secret: {strategy: fixed, value: 'x'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.Profile("full")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a\\tb", chunkBytes) // a row longer than a chunk
	tests := []struct{ name, give, want string }{
		{"rows", "1\tkeep\tsecret1\n2\t\\N\tsecret2\n", "1\tkeep\tx\n2\t\\N\tx\n"},
		{"no final newline", "1\tkeep\tsecret1", "1\tkeep\tx\n"},
		{"end marker", "1\tkeep\ts\n\\.\n2\tafter\ts\n", "1\tkeep\tx\n"},
		{"null masked", "1\tk\t\\N\n", "1\tk\tx\n"},
		{"long row", "1\t" + long + "\tsecret\n", "1\t" + long + "\tx\n"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok, err := p.ForTable("public.t", []string{"id", "note", "secret"}, mask.Options{})
			if err != nil || !ok {
				t.Fatalf("ForTable = %v, %v", ok, err)
			}
			// Whole reads, and reads of one byte that cut every row.
			for _, src := range []io.Reader{strings.NewReader(tt.give), iotest.OneByteReader(strings.NewReader(tt.give))} {
				s := newSampler(10, 0, m)
				var out bytes.Buffer
				if err := feedMasked(&out, src, m, s); err != nil {
					t.Fatal(err)
				}
				if out.String() != tt.want {
					t.Fatalf("got %.80q, want %.80q", out.String(), tt.want)
				}
			}
		})
	}
}

// TestFeedMaskedKeepsOrderAcrossChunks: rows masked by several workers come out in their
// original order, each masked exactly as one masker alone would.
func TestFeedMaskedKeepsOrderAcrossChunks(t *testing.T) {
	rules, err := mask.ParseRules([]byte("levels:\n  full:\n    public.t:\n      email: {strategy: fake-email}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rules.Profile("full")
	m, _, err := p.ForTable("public.t", []string{"id", "email"}, mask.Options{Key: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	var in, want bytes.Buffer
	var line []byte
	for i := range 50_000 { // about 2 MB: several chunks per worker
		row := fmt.Sprintf("%d\tuser%d@example.com", i, i)
		in.WriteString(row + "\n")
		if line, err = m.MaskLine(line[:0], []byte(row)); err != nil {
			t.Fatal(err)
		}
		want.Write(append(line, '\n'))
	}
	var out bytes.Buffer
	if err := feedMasked(&out, &in, m, newSampler(10, 0, m)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatal("parallel masking changed the rows or their order")
	}
}

func TestFeedMaskedRejectsDamagedRows(t *testing.T) {
	rules, _ := mask.ParseRules([]byte("levels:\n  full:\n    public.t:\n      secret: {strategy: null}\n"))
	p, _ := rules.Profile("full")
	m, _, _ := p.ForTable("public.t", []string{"id", "secret"}, mask.Options{})
	err := feedMasked(&bytes.Buffer{}, strings.NewReader("1\ta\n2\n"), m, newSampler(10, 0, m))
	if err == nil || badData(err, "public.t") == err {
		t.Fatalf("err = %v, want a permanent failure for a short row", err)
	}
}

func TestSamplerKeepsAUniformBoundedSample(t *testing.T) {
	rules, _ := mask.ParseRules([]byte("levels:\n  full:\n    public.t:\n      v: {strategy: fixed, value: x}\n"))
	p, _ := rules.Profile("full")
	m, _, _ := p.ForTable("public.t", []string{"id", "v"}, mask.Options{})
	s := newSampler(100, 0, m)
	for i := range 10_000 {
		if err := s.offer([]byte(strings.Repeat("9", i%5+1) + "\tv\\t" + string(rune('a'+i%26)))); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.rows) != 100 || s.n != 10_000 {
		t.Fatalf("kept %d of %d rows, want 100 of 10000", len(s.rows), s.n)
	}
	for _, r := range s.rows {
		if len(r.orig[0]) != 1 || len(r.orig[0][0]) != 3 || r.orig[0][0][1] != '\t' || len(r.key) == 0 {
			t.Fatalf("value not decoded: %q (key %q)", r.orig[0], r.key)
		}
	}
}
