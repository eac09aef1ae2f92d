package mask

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"maps"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var (
	testKey  = []byte("0123456789abcdef-test-key")
	otherKey = []byte("fedcba9876543210-other-key")
)

// maskerFor builds the masker of a one-table profile with the given rules (YAML flow maps).
func maskerFor(t testing.TB, columns []string, rules map[string]string) *TableMasker {
	t.Helper()
	var b strings.Builder
	b.WriteString("levels:\n  full:\n    public.t:\n")
	for _, c := range slices.Sorted(maps.Keys(rules)) {
		fmt.Fprintf(&b, "      %s: %s\n", c, rules[c])
	}
	r, err := ParseRules([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.Profile("full")
	m, ok, err := p.ForTable("public.t", columns, Options{Key: testKey})
	if err != nil || !ok {
		t.Fatalf("ForTable: %v, %v", ok, err)
	}
	return m
}

// maskOne masks a single value with a single rule.
func maskOne(t testing.TB, rule, v string, null bool) (string, bool) {
	t.Helper()
	m := maskerFor(t, []string{"c"}, map[string]string{"c": rule})
	out, outNull, err := m.MaskValue("c", []byte(v), null)
	if err != nil {
		t.Fatalf("MaskValue(%s, %q): %v", rule, v, err)
	}
	return string(out), outNull
}

func TestPartial(t *testing.T) {
	tests := []struct {
		name string
		rule string
		give string
		want string
	}{
		{"email keeps half the local part", "{strategy: partial}", "john.doe@example.com", "john***@example.com"},
		{"email keep_first", "{strategy: partial, keep_first: 6}", "john.doe@example.com", "john.d***@example.com"},
		{"email keep_first capped to hide one char", "{strategy: partial, keep_first: 9}", "jo@corp.example", "j***@corp.example"},
		{"one-letter local part", "{strategy: partial}", "j@corp.example", "***@corp.example"},
		{"utf-8 local part", "{strategy: partial}", "zoë.ång@b.example", "zoë***@b.example"},
		{"ssn keeps last 4", "{strategy: partial, keep_first: 0, keep_last: 4}", "123-45-6789", "***-**-6789"},
		{"card keeps last 4", "{strategy: partial, keep_first: 0, keep_last: 4}", "4111 1111 1111 1111", "**** **** **** 1111"},
		{"name keeps first and last", "{strategy: partial}", "John Smith", "J*** ****h"},
		{"utf-8 name", "{strategy: partial}", "Zoë Ångström", "Z** *******m"},
		{"too short hides all", "{strategy: partial}", "ab", "**"},
		{"keep covers all hides all", "{strategy: partial, keep_first: 0, keep_last: 4}", "6789", "****"},
		{"trailing @ is no email", "{strategy: partial}", "abc@", "a*c@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := maskOne(t, tt.rule, tt.give, false); got != tt.want {
				t.Errorf("partial %q = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestPartialUnique(t *testing.T) {
	got, _ := maskOne(t, "{strategy: partial, unique: true}", "john.doe@example.com", false)
	if !regexp.MustCompile(`^john\*\*\*\+[a-z2-7]{16}@example\.com$`).MatchString(got) {
		t.Errorf("unique partial email = %q", got)
	}
	other, _ := maskOne(t, "{strategy: partial, unique: true}", "john.dog@example.com", false)
	if other == got {
		t.Errorf("unique partial: two emails with the same prefix both map to %q", got)
	}
	got, _ = maskOne(t, "{strategy: partial, unique: true, keep_first: 0, keep_last: 4}", "123-45-6789", false)
	if !regexp.MustCompile(`^\*\*\*-\*\*-6789~[a-z2-7]{16}$`).MatchString(got) {
		t.Errorf("unique partial ssn = %q", got)
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		rule string
		want string // regexp
	}{
		{"{strategy: token}", `^[0-9a-f]{64}$`},
		{"{strategy: token, length: 16}", `^[0-9a-f]{16}$`},
		{"{strategy: token, length: 15}", `^[0-9a-f]{15}$`},
		{"{strategy: token, format: base32}", `^[a-z2-7]{52}$`},
		{"{strategy: token, format: base32, length: 13}", `^[a-z2-7]{13}$`},
	}
	for _, tt := range tests {
		got, _ := maskOne(t, tt.rule, "john.doe@example.com", false)
		if !regexp.MustCompile(tt.want).MatchString(got) {
			t.Errorf("%s = %q, want %s", tt.rule, got, tt.want)
		}
	}
	full, _ := maskOne(t, "{strategy: token}", "x", false)
	short, _ := maskOne(t, "{strategy: token, length: 16}", "x", false)
	if !strings.HasPrefix(full, short) {
		t.Errorf("token length 16 %q is not a prefix of the full token %q", short, full)
	}
}

func TestFakeEmail(t *testing.T) {
	re := regexp.MustCompile(`^[a-z]+\.[a-z2-7]{16}@example\.com$`)
	for _, give := range []string{"john.doe@example.com", "JOHN.DOE@EXAMPLE.COM", "not an email", "zoë@東京.jp", "a\tb\\c"} {
		got, _ := maskOne(t, "{strategy: fake-email, unique: true}", give, false)
		if !re.MatchString(got) {
			t.Errorf("fake-email(%q) = %q, want %s", give, got, re)
		}
		if a, err := mail.ParseAddress(got); err != nil || a.Address != got {
			t.Errorf("fake-email(%q) = %q does not parse as an address: %v", give, got, err)
		}
	}
}

func TestFakePhone(t *testing.T) {
	tests := []struct {
		give     string
		keepHead string // kept verbatim
	}{
		{"+1 415-555-0100", "+1 "},
		{"(415) 555-0100", ""},
		{"+44 20 7946 0958", "+44 "},
		{"+14155550100", ""},
		{"0049-30-1234567", ""},
		{"+1 5", ""},
		{"7", ""},
	}
	for _, tt := range tests {
		got, _ := maskOne(t, "{strategy: fake-phone}", tt.give, false)
		if !sameLayout(got, tt.give) || !strings.HasPrefix(got, tt.keepHead) || got == tt.give {
			t.Errorf("fake-phone(%q) = %q: want the same layout, prefix %q, another value", tt.give, got, tt.keepHead)
		}
	}
	got, _ := maskOne(t, "{strategy: fake-phone}", "unknown", false)
	if !regexp.MustCompile(`^555-01\d\d$`).MatchString(got) {
		t.Errorf("fake-phone without digits = %q, want 555-01dd", got)
	}
}

// sameLayout reports whether a and b have the same length and digits in the same places,
// with equal non-digit bytes.
func sameLayout(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if isDigit(a[i]) != isDigit(b[i]) || (!isDigit(a[i]) && a[i] != b[i]) {
			return false
		}
	}
	return true
}

func TestFakeSSN(t *testing.T) {
	tests := []struct{ give, want string }{
		{"123-45-6789", `^9\d\d-(0[1-9]|[1-9]\d)-\d{4}$`},
		{"123456789", `^9\d{8}$`},
		{"123 45 6789", `^9\d\d (0[1-9]|[1-9]\d) \d{4}$`},
		{"n/a", `^9\d\d-\d\d-\d{4}$`},
		{"12-34", `^9\d\d-\d\d-\d{4}$`},
	}
	for _, tt := range tests {
		got, _ := maskOne(t, "{strategy: fake-ssn}", tt.give, false)
		if !regexp.MustCompile(tt.want).MatchString(got) || strings.HasSuffix(got, "0000") {
			t.Errorf("fake-ssn(%q) = %q, want %s", tt.give, got, tt.want)
		}
	}
}

func TestFakeCard(t *testing.T) {
	for _, give := range []string{"4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011000990139424123", "4000056655665556"} {
		got, _ := maskOne(t, "{strategy: fake-card}", give, false)
		if !sameLayout(got, give) || got[:2] != give[:2] || got == give || !luhnValid(got) {
			t.Errorf("fake-card(%q) = %q: want same layout and first two digits, valid Luhn, another value", give, got)
		}
	}
	got, _ := maskOne(t, "{strategy: fake-card}", "1234", false)
	if !sameLayout(got, "1234") || got == "1234" {
		t.Errorf("fake-card of a short value = %q", got)
	}
}

func luhnValid(s string) bool {
	var digits []byte
	for i := range len(s) {
		if isDigit(s[i]) {
			digits = append(digits, s[i]-'0')
		}
	}
	return len(digits) > 1 && luhnCheckDigit(digits[:len(digits)-1]) == digits[len(digits)-1]
}

func TestLuhnCheckDigit(t *testing.T) {
	for _, valid := range []string{"4111111111111111", "5500000000000004", "378282246310005", "79927398713"} {
		if !luhnValid(valid) {
			t.Errorf("known valid number %s fails the Luhn check", valid)
		}
	}
	if luhnValid("4111111111111112") {
		t.Error("4111111111111112 passes the Luhn check")
	}
}

func TestFakeName(t *testing.T) {
	got, _ := maskOne(t, "{strategy: fake-name}", "John Smith", false)
	first, last, ok := strings.Cut(got, " ")
	if !ok || !slices.Contains(firstNames[:], first) || !slices.Contains(lastNames[:], last) {
		t.Errorf("fake-name(John Smith) = %q, want First Last from the lists", got)
	}
	got, _ = maskOne(t, "{strategy: fake-name}", "Cher", false)
	if !slices.Contains(firstNames[:], got) {
		t.Errorf("fake-name(Cher) = %q, want one first name", got)
	}
}

func TestNullsEmptiesNullAndFixed(t *testing.T) {
	for _, rule := range []string{"{strategy: partial}", "{strategy: token}", "{strategy: fake-email}", "{strategy: fake-phone}",
		"{strategy: fake-ssn}", "{strategy: fake-card}", "{strategy: fake-name}"} {
		if got, null := maskOne(t, rule, "", true); !null || got != "" {
			t.Errorf("%s of NULL = %q, %v; want NULL", rule, got, null)
		}
		if got, null := maskOne(t, rule, "", false); null || got != "" {
			t.Errorf("%s of '' = %q, %v; want ''", rule, got, null)
		}
	}
	for _, give := range []struct {
		v    string
		null bool
	}{{"secret", false}, {"", false}, {"", true}} {
		if got, null := maskOne(t, "{strategy: null}", give.v, give.null); !null || got != "" {
			t.Errorf("null of %q = %q, %v; want NULL", give.v, got, null)
		}
		if got, null := maskOne(t, "{strategy: fixed, value: 'redacted'}", give.v, give.null); null || got != "redacted" {
			t.Errorf("fixed of %q = %q, %v; want redacted", give.v, got, null)
		}
	}
}

var keyedRules = []string{
	"{strategy: token}", "{strategy: fake-email}", "{strategy: fake-phone}", "{strategy: fake-ssn}",
	"{strategy: fake-card}", "{strategy: fake-name}", "{strategy: partial, unique: true}",
}

// TestDeterminism checks that a strategy maps a value the same way in every table and column
// and in clones, and another key maps it differently.
func TestDeterminism(t *testing.T) {
	const value = "4111-1111-1111-1111 john.doe@example.com"
	for _, rule := range keyedRules {
		r, err := ParseRules([]byte(fmt.Sprintf("levels:\n  full:\n    public.users:\n      email: %s\n    sales.orders:\n      buyer: %s\n", rule, rule)))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := r.Profile("full")
		users, _, err := p.ForTable("public.users", []string{"id", "email"}, Options{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		orders, _, err := p.ForTable("sales.orders", []string{"buyer", "id"}, Options{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		rekeyed, _, err := p.ForTable("public.users", []string{"id", "email"}, Options{Key: otherKey})
		if err != nil {
			t.Fatal(err)
		}
		a := maskString(t, users, "email", value)
		if b := maskString(t, orders, "buyer", value); a != b {
			t.Errorf("%s: users.email → %q but sales.orders.buyer → %q", rule, a, b)
		}
		if b := maskString(t, users.Clone(), "email", value); a != b {
			t.Errorf("%s: clone gives %q, original %q", rule, b, a)
		}
		if b := maskString(t, users, "email", value); a != b {
			t.Errorf("%s: second call gives %q, first %q", rule, b, a)
		}
		if b := maskString(t, rekeyed, "email", value); a == b {
			t.Errorf("%s: another key gives the same %q", rule, a)
		}
	}
}

func maskString(t *testing.T, m *TableMasker, col, v string) string {
	t.Helper()
	out, _, err := m.MaskValue(col, []byte(v), false)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestFakeNeverEqualsInput includes inputs with a single free digit, where a first attempt
// equals the input one time in ten.
func TestFakeNeverEqualsInput(t *testing.T) {
	var inputs []string
	for d := range 10 {
		inputs = append(inputs, fmt.Sprint(d), fmt.Sprintf("+1 %d", d), fmt.Sprintf("x%dx", d))
	}
	for i := range 2000 {
		inputs = append(inputs, fmt.Sprintf("%03d-%02d-%04d", 900+i%100, i%100, i), fmt.Sprintf("user%d@example.com", i),
			fmt.Sprintf("4%015d", i), fmt.Sprintf("%s %s", firstNames[i%len(firstNames)], lastNames[i/len(firstNames)%len(lastNames)]))
	}
	for _, rule := range []string{"{strategy: fake-email}", "{strategy: fake-phone}", "{strategy: fake-ssn}", "{strategy: fake-card}", "{strategy: fake-name}"} {
		m := maskerFor(t, []string{"c"}, map[string]string{"c": rule})
		for _, in := range inputs {
			if got := maskString(t, m, "c", in); got == in {
				t.Errorf("%s(%q) equals its input", rule, in)
			}
		}
	}
}

// TestUniqueMillion maps 1,000,000 distinct emails through fake-email, and 200,000 through
// the other unique strategies, and checks the outputs are distinct (by 64-bit hashes:
// distinct hashes prove distinct values).
func TestUniqueMillion(t *testing.T) {
	tests := []struct {
		rule string
		n    int
	}{
		{"{strategy: fake-email, unique: true}", 1_000_000},
		{"{strategy: partial, unique: true}", 200_000},
		{"{strategy: token, length: 16, unique: true}", 200_000},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			m := maskerFor(t, []string{"email"}, map[string]string{"email": tt.rule})
			seed := maphash.MakeSeed()
			hashes := make([]uint64, tt.n)
			in := make([]byte, 0, 64)
			for i := range tt.n {
				in = append(strconv.AppendInt(append(in[:0], "user"...), int64(i), 10), "@corp.example"...)
				out, _, err := m.MaskValue("email", in, false)
				if err != nil {
					t.Fatal(err)
				}
				hashes[i] = maphash.Bytes(seed, out)
			}
			slices.Sort(hashes)
			if got := len(slices.Compact(hashes)); got != tt.n {
				t.Errorf("%d distinct emails gave %d distinct outputs", tt.n, got)
			}
		})
	}
}

var usersColumns = []string{"id", "email", "ssn", "phone", "name", "created_at"}

var usersRules = map[string]string{
	"email": "{strategy: fake-email, unique: true}", "ssn": "{strategy: fake-ssn}",
	"phone": "{strategy: fake-phone}", "name": "{strategy: fake-name}",
}

func TestMaskLine(t *testing.T) {
	m := maskerFor(t, usersColumns, usersRules)
	tests := []struct {
		name string
		give string
	}{
		{"plain row", "1\tjohn.doe@example.com\t123-45-6789\t+1 415-555-0100\tJohn Smith\t2024-05-01 10:00:00+00"},
		{"nulls", "2\t\\N\t\\N\t\\N\t\\N\t\\N"},
		{"empty strings", "3\t\t\t\t\t"},
		{"escapes in ruled fields", "4\tjo\\thn@x.example\t12\\\\3\t\\x41\\101\tJohn\\nSmith\t\\N"},
		{"escapes in unruled fields kept raw", "5\\t\\\\\te@x.example\t1\t2\t3\tlast\\\\N"},
		{"utf-8", "6\tzoë@東京.jp\t123-45-6789\t+81 3-1234-5678\tZoë Ångström\t2024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := m.MaskLine([]byte("keep|"), []byte(tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, []byte("keep|")) {
				t.Fatalf("MaskLine overwrote dst: %q", out)
			}
			inF, outF := SplitFields(nil, []byte(tt.give)), SplitFields(nil, out[len("keep|"):])
			if len(outF) != len(inF) {
				t.Fatalf("MaskLine(%q) = %q: %d fields, want %d", tt.give, out, len(outF), len(inF))
			}
			for i, col := range usersColumns {
				if _, ruled := usersRules[col]; !ruled {
					if !bytes.Equal(inF[i], outF[i]) {
						t.Errorf("unruled %s: %q → %q", col, inF[i], outF[i])
					}
					continue
				}
				v, _ := DecodeField(nil, inF[i])
				want, wantNull, err := m.MaskValue(col, v, IsNull(inF[i]))
				if err != nil {
					t.Fatal(err)
				}
				wantRaw := AppendField(nil, want)
				if wantNull {
					wantRaw = []byte(NullField)
				}
				if !bytes.Equal(outF[i], wantRaw) {
					t.Errorf("%s: %q → %q, want %q", col, inF[i], outF[i], wantRaw)
				}
			}
		})
	}
}

func TestMaskLineEscapesOutput(t *testing.T) {
	m := maskerFor(t, []string{"id", "note"}, map[string]string{"note": `{strategy: fixed, value: "a\tb\\c\nd\\N"}`})
	out, err := m.MaskLine(nil, []byte("1\t\\N"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `1` + "\t" + `a\tb\\c\nd\\N`; string(out) != want {
		t.Errorf("MaskLine = %q, want %q", out, want)
	}
}

func TestMaskLineErrors(t *testing.T) {
	m := maskerFor(t, usersColumns, usersRules)
	tests := []struct {
		name string
		give string
		want error
	}{
		{"too few fields", "1\ta@b.example\t1\t2", ErrFieldCount},
		{"too many fields", "1\ta\tb\tc\td\te\tf", ErrFieldCount},
		{"one field", "", ErrFieldCount},
		{"lone backslash in a ruled field", "1\ta\\", ErrBadEscape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := m.MaskLine(dst, []byte(tt.give))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if string(out) != "keep" {
				t.Errorf("dst after error = %q, want it unchanged", out)
			}
		})
	}
	m2 := maskerFor(t, []string{"a", "email"}, map[string]string{"email": "{strategy: fake-email}"})
	_, err := m2.MaskLine(nil, []byte("1\tsecret\\"))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v must exist and must not carry the value", err)
	}
}

// TestClonesInParallel runs clones on several goroutines (meaningful under -race) and checks
// they agree with the original.
func TestClonesInParallel(t *testing.T) {
	m := maskerFor(t, usersColumns, usersRules)
	line := []byte("1\tjohn.doe@example.com\t123-45-6789\t+1 415-555-0100\tJohn Smith\t2024-05-01")
	want, err := m.MaskLine(nil, line)
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.Clone(want)
	errs := make(chan error, 4)
	for range 4 {
		c := m.Clone()
		go func() {
			var dst []byte
			for range 200 {
				var err error
				if dst, err = c.MaskLine(dst[:0], line); err != nil || !bytes.Equal(dst, want) {
					errs <- fmt.Errorf("clone: %q, %v; want %q", dst, err, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestMaskLineAllocs(t *testing.T) {
	m := maskerFor(t, usersColumns, usersRules)
	line := []byte("1\tjohn.doe@example.com\t123-45-6789\t+1 415-555-0100\tJohn Smith\t2024-05-01 10:00:00+00")
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		var err error
		if dst, err = m.MaskLine(dst[:0], line); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("MaskLine allocates %.1f times per row, want 0", allocs)
	}
}

func TestForTable(t *testing.T) {
	r, err := ParseRules([]byte("levels:\n  full:\n    users:\n      email: {strategy: fake-email}\n  partial:\n    users:\n      email: {strategy: partial}\n      note: {strategy: fixed, value: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := r.Profile("full")
	part, _ := r.Profile("partial")
	if m, ok, err := full.ForTable("public.payments", []string{"id"}, Options{Key: testKey}); m != nil || ok || err != nil {
		t.Errorf("table without rules: %v, %v, %v; want nil, false, nil", m, ok, err)
	}
	if _, _, err := full.ForTable("users", []string{"id", "mail"}, Options{Key: testKey}); !errors.Is(err, ErrUnknownColumn) {
		t.Errorf("missing column: err = %v, want ErrUnknownColumn", err)
	}
	if _, _, err := full.ForTable("users", []string{"id", "email", "id"}, Options{Key: testKey}); err == nil {
		t.Error("duplicate column: no error")
	}
	for _, key := range [][]byte{nil, []byte("short")} {
		_, _, err := full.ForTable("users", []string{"email"}, Options{Key: key})
		if !errors.Is(err, ErrNoKey) {
			t.Errorf("key of %d bytes: err = %v, want ErrNoKey", len(key), err)
		}
	}
	m, ok, err := part.ForTable("users", []string{"note", "id", "email"}, Options{})
	if err != nil || !ok {
		t.Fatalf("keyless rules without a key: %v, %v", ok, err)
	}
	if got := m.MaskedColumns(); !slices.Equal(got, []string{"note", "email"}) {
		t.Errorf("MaskedColumns() = %v, want COPY order [note email]", got)
	}
	if _, _, err := m.MaskValue("id", []byte("1"), false); !errors.Is(err, ErrUnknownColumn) {
		t.Errorf("MaskValue of an unruled column: err = %v, want ErrUnknownColumn", err)
	}
}

// TestGolden pins every strategy's output for a fixed key: masked values must not change
// between versions, or clones made before and after an upgrade stop joining.
func TestGolden(t *testing.T) {
	rules := []string{
		"{strategy: partial}", "{strategy: partial, unique: true}", "{strategy: token}",
		"{strategy: token, format: base32, length: 20}", "{strategy: fake-email}", "{strategy: fake-phone}",
		"{strategy: fake-ssn}", "{strategy: fake-card}", "{strategy: fake-name}",
	}
	inputs := []string{"john.doe@example.com", "123-45-6789", "+1 415-555-0100", "4111 1111 1111 1111", "John Smith", "Zoë"}
	var b strings.Builder
	for _, rule := range rules {
		for _, in := range inputs {
			got, _ := maskOne(t, rule, in, false)
			fmt.Fprintf(&b, "%s\t%s\t%s\n", rule, in, got)
		}
	}
	golden(t, "strategies.golden", b.String())
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended):\n%s", path, got)
	}
}

func FuzzMaskLine(f *testing.F) {
	for _, s := range []string{
		"1\tjohn.doe@example.com\t123-45-6789\t+1 415-555-0100\tJohn Smith\t2024-05-01",
		"2\t\\N\t\\N\t\\N\t\\N\t\\N",
		"3\t\t\t\t\t",
		"4\tjo\\thn@x\t12\\\\3\t\\x41\\101\tJohn\\nSmith\t\\N",
		"5\\t\\\\\te@x\t1\t2\t3\tlast\\",
		"6\tzoë@東京.jp\t\xff\xfe\t+81 3\tZoë\t",
		"1\t2", "", "\t\t\t\t\t\t\t",
	} {
		f.Add([]byte(s))
	}
	m := maskerFor(f, usersColumns, usersRules)
	f.Fuzz(func(t *testing.T, line []byte) {
		out, err := m.MaskLine(nil, line)
		if err != nil {
			return
		}
		inF, outF := SplitFields(nil, line), SplitFields(nil, out)
		if len(outF) != len(inF) {
			t.Fatalf("MaskLine(%q) = %q: %d fields, want %d", line, out, len(outF), len(inF))
		}
		for i, col := range usersColumns {
			_, ruled := usersRules[col]
			switch {
			case !ruled && !bytes.Equal(inF[i], outF[i]):
				t.Fatalf("unruled %s changed: %q → %q", col, inF[i], outF[i])
			case ruled && IsNull(inF[i]) != IsNull(outF[i]):
				t.Fatalf("%s: NULL-ness changed: %q → %q", col, inF[i], outF[i])
			case ruled && !IsNull(inF[i]):
				v, err := DecodeField(nil, inF[i])
				if err != nil {
					t.Fatalf("%s: MaskLine accepted %q that does not decode: %v", col, inF[i], err)
				}
				want, _, err := m.MaskValue(col, v, false)
				if err != nil || !bytes.Equal(outF[i], AppendField(nil, want)) {
					t.Fatalf("%s: %q → %q, MaskValue gives %q, %v", col, inF[i], outF[i], want, err)
				}
			}
		}
	})
}
