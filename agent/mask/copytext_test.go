package mask

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSplitFields(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []string
	}{
		{"empty row is one empty field", "", []string{""}},
		{"plain", "1\tjohn@example.com\t\\N", []string{"1", "john@example.com", `\N`}},
		{"empty fields", "\t\t", []string{"", "", ""}},
		{"escaped tab stays in its field", "a\\\tb\tc", []string{"a\\\tb", "c"}},
		{"escaped backslash before tab ends the field", `a\\` + "\tb", []string{`a\\`, "b"}},
		{"escape sequences", `a\tb\nc` + "\t" + `\\N`, []string{`a\tb\nc`, `\\N`}},
		{"trailing lone backslash", "a\tb\\", []string{"a", "b\\"}},
		{"utf-8", "zoë\t東京\t😀", []string{"zoë", "東京", "😀"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitFields(nil, []byte(tt.give))
			if len(got) != len(tt.want) {
				t.Fatalf("SplitFields(%q) = %q, want %q", tt.give, got, tt.want)
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("field %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodeField(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string
	}{
		{"plain", "john", "john"},
		{"backslash", `a\\b`, `a\b`},
		{"control escapes", `\b\f\n\r\t\v`, "\b\f\n\r\t\v"},
		{"octal one digit", `\0x`, "\x00x"},
		{"octal three digits", `\101\1012`, "AA2"},
		{"octal overflow keeps low byte", `\777`, "\xff"},
		{"octal stops at non-octal", `\18`, "\x018"},
		{"hex one digit", `\x4g`, "\x04g"},
		{"hex two digits", `\x41\x4a\x4A`, "AJJ"},
		{"hex takes at most two digits", `\x414`, "A4"},
		{"x without hex digit is x", `\xg`, "xg"},
		{"x at end is x", `a\x`, "ax"},
		{"other escaped byte is itself", `\q\.\N`, "q.N"},
		{"escaped null marker is text", `\\N`, `\N`},
		{"utf-8 passes through", `zoë\t東京`, "zoë\t東京"},
		{"escaped multibyte lead byte", "\\\xc3\xab", "ë"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeField(nil, []byte(tt.give))
			if err != nil {
				t.Fatalf("DecodeField(%q): %v", tt.give, err)
			}
			if string(got) != tt.want {
				t.Errorf("DecodeField(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
	if _, err := DecodeField(nil, []byte(`abc\`)); !errors.Is(err, ErrBadEscape) {
		t.Errorf("trailing backslash: err = %v, want ErrBadEscape", err)
	}
}

func TestAppendField(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string
	}{
		{"plain", "john", "john"},
		{"empty", "", ""},
		{"backslash", `a\b`, `a\\b`},
		{"the text \\N is not NULL", `\N`, `\\N`},
		{"control escapes", "\b\f\n\r\t\v", `\b\f\n\r\t\v`},
		{"other control bytes raw", "\x00\x01\x1f\x7f", "\x00\x01\x1f\x7f"},
		{"utf-8 raw", "zoë 東京 😀", "zoë 東京 😀"},
		{"invalid utf-8 raw", "\xff\xfe", "\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendField([]byte("prefix|"), []byte(tt.give))
			if string(got) != "prefix|"+tt.want {
				t.Errorf("AppendField(%q) = %q, want %q", tt.give, got, "prefix|"+tt.want)
			}
		})
	}
}

func TestIsNull(t *testing.T) {
	for give, want := range map[string]bool{`\N`: true, `\\N`: false, "N": false, `\n`: false, "": false, `\N\N`: false} {
		if got := IsNull([]byte(give)); got != want {
			t.Errorf("IsNull(%q) = %v, want %v", give, got, want)
		}
	}
}

// TestCanonicalRoundTrip checks that a field as COPY TO writes it decodes and re-encodes to
// the same bytes, and that a value survives encode then decode.
func TestCanonicalRoundTrip(t *testing.T) {
	values := []string{
		"", "plain", `back\slash`, "tab\there", "new\nline\r\n", "\b\f\v", `\N`, `\\N`,
		"zoë 東京 😀", "\x00\x01\x7f", strings.Repeat("long\t\\", 10000),
	}
	for _, v := range values {
		enc := AppendField(nil, []byte(v))
		if bytes.IndexByte(enc, '\t') >= 0 || bytes.IndexByte(enc, '\n') >= 0 {
			t.Errorf("AppendField(%.20q) left a raw tab or newline", v)
		}
		if IsNull(enc) {
			t.Errorf("AppendField(%.20q) = NULL marker", v)
		}
		dec, err := DecodeField(nil, enc)
		if err != nil || string(dec) != v {
			t.Errorf("DecodeField(AppendField(%.20q)) = %.20q, %v", v, dec, err)
		}
		if got := SplitFields(nil, enc); len(got) != 1 {
			t.Errorf("encoded %.20q splits into %d fields", v, len(got))
		}
	}
}

func FuzzDecodeEncode(f *testing.F) {
	for _, s := range []string{"", "plain", `a\\b`, `\N`, `\\N`, `\101\x41\q`, "a\\\tb", "zoë\t東京", "\xff", `\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// any value survives encode → decode, and the encoding is one field
		enc := AppendField(nil, data)
		dec, err := DecodeField(nil, enc)
		if err != nil || !bytes.Equal(dec, data) {
			t.Fatalf("round trip of %q: got %q, %v", data, dec, err)
		}
		if n := len(SplitFields(nil, enc)); n != 1 {
			t.Fatalf("encoding of %q splits into %d fields", data, n)
		}
		// any raw field either fails cleanly or decodes to a value whose encoding is stable
		if v, err := DecodeField(nil, data); err == nil {
			enc2 := AppendField(nil, v)
			v2, err := DecodeField(nil, enc2)
			if err != nil || !bytes.Equal(v, v2) {
				t.Fatalf("re-decode of %q: got %q, %v", data, v2, err)
			}
		}
		// splitting then joining with tabs gives the row back
		if got := bytes.Join(SplitFields(nil, data), []byte{'\t'}); !bytes.Equal(got, data) {
			t.Fatalf("split/join of %q = %q", data, got)
		}
	})
}
