package mask

import (
	"strings"
	"testing"
)

// TestDetectors reads positive and negative samples with each detector.
func TestDetectors(t *testing.T) {
	tests := []struct {
		detector string
		yes, no  []string
	}{
		{"emails", []string{"jane.doe@corp.example", "x+tag@sub.example.co.uk", "O'Brien@example.org"},
			[]string{"jane.doe@", "@corp.example", "jane doe@corp.example", "a@b", "not an email", "user@localhost"}},
		{"card numbers", []string{"4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117", "2223003122003222"},
			[]string{"4111 1111 1111 1112", "1111111111111117", "411111111111", "4111-1111-1111-111a", "12345678901234567890"}},
		{"IBANs", []string{"DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "fr1420041010050500013m02606"},
			[]string{"DE89 3704 0044 0532 0130 01", "GB82WEST1234", "DE00370400440532013000", "hello world iban"}},
		{"national ids", []string{"123-45-6789", "078-05-1120", "AB 12 34 56 C", "AB123456C"},
			[]string{"000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "123456789", "DA123456A", "QQ123456C"}},
		{"IP addresses", []string{"192.168.1.20", "10.0.0.1", "2001:db8::1", "fe80::1%eth0", "10.0.0.0/8"},
			[]string{"1.2.3", "256.1.1.1", "v1.2.3.4", "::g", "1.2"}},
		{"phone numbers", []string{"+1 415-555-0100", "(415) 555-0100", "+44 20 7946 0958", "030 1234567", "415.555.0100"},
			[]string{"4155550100", "2024-01-05", "10.0.0.1", "123-45-6789", "12-34", "+1 415 +555", "call me"}},
		{"names", []string{"Jane Roe", "Maria de la Cruz", "Ada Lovelace", "Jean-Pierre Dubois", "Émilie Dupont"},
			[]string{"jane roe", "Jane", "Order Number Five", "Grace 42", "Premium Plan", "The Quick Brown Fox Jumps"}},
	}
	byName := map[string]*Detector{}
	for _, d := range detectors {
		byName[d.Name] = d
	}
	for _, tt := range tests {
		d := byName[tt.detector]
		if d == nil {
			t.Fatalf("no detector %q", tt.detector)
		}
		for _, v := range tt.yes {
			if !d.value(v) {
				t.Errorf("%s: %q not recognised", d.Name, v)
			}
		}
		for _, v := range tt.no {
			if d.value(v) {
				t.Errorf("%s: %q recognised", d.Name, v)
			}
		}
	}
}

func TestDetectValues(t *testing.T) {
	vals := func(s ...string) [][]byte {
		out := make([][]byte, len(s))
		for i, v := range s {
			out[i] = []byte(v)
		}
		return out
	}
	tests := []struct {
		name  string
		give  [][]byte
		want  string // the first finding's detector, "" for none
		share string
	}{
		{"ssns also look like phones: ids win on order", vals("123-45-6789", "234-56-7890", "345-67-8901"), "national ids", ""},
		{"one email in twenty is enough", append(vals("a@corp.example"), vals(strings.Split(strings.Repeat("note ", 19), " ")[:19]...)...), "emails", ""},
		{"a few phone-like values are not", append(vals("+1 415-555-0100"), vals(strings.Split(strings.Repeat("x ", 9), " ")[:9]...)...), "", ""},
		{"random digits are rarely Luhn-valid cards", vals("4000002654435761", "4000010617743044", "4000005308870521", "4000013271178805"), "", ""},
		{"empty values are not sampled", vals("", " ", ""), "", ""},
		{"codes", vals("ACTIVE", "PENDING", "closed"), "", ""},
	}
	for _, tt := range tests {
		got := DetectValues(tt.give)
		switch {
		case tt.want == "" && len(got) > 0:
			t.Errorf("%s: found %s (%d of %d)", tt.name, got[0].Detector.Name, got[0].Hits, got[0].Sampled)
		case tt.want != "" && (len(got) == 0 || got[0].Detector.Name != tt.want):
			t.Errorf("%s: found %+v, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDetectName(t *testing.T) {
	tests := []struct{ give, want string }{
		{"email", "emails"}, {"EmailAddress", "emails"}, {"contact_email", "emails"}, {"mail", "emails"},
		{"card_number", "card numbers"}, {"ccNumber", "card numbers"}, {"iban", "IBANs"}, {"tax_id", "national ids"},
		{"SSN", "national ids"}, {"passport_no", "national ids"}, {"ip_address", "IP addresses"}, {"remote_addr", "IP addresses"},
		{"mobile_phone", "phone numbers"}, {"tel", "phone numbers"}, {"first_name", "names"}, {"name", "names"},
		{"surname", "names"}, {"date_of_birth", "dates of birth"}, {"dob", "dates of birth"}, {"birthday", "dates of birth"},
		{"id", ""}, {"product_name", ""}, {"shipped", ""}, {"ipsum", ""}, {"telemetry", ""}, {"emailed_at", "emails"}, {"cardinality", ""},
	}
	for _, tt := range tests {
		d, ok := DetectName(tt.give)
		got := ""
		if ok {
			got = d.Name
		}
		if got != tt.want {
			t.Errorf("DetectName(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// TestReportGolden pins what clonebot masking check prints.
func TestReportGolden(t *testing.T) {
	tables := []Table{
		{Name: "public.users", Columns: []Column{{"id", "bigint"}, {"email", "text"}, {"tax_id", "text"}, {"phone", "bigint"},
			{"profile", "jsonb"}, {"created_at", "timestamp with time zone"}, {"last_ip", "inet"}, {"nick", "character varying(20)"}}},
		{Name: "My Schema.Orders", Columns: []Column{{"id", "bigint"}, {"Card No", "text"}, {"note", "text"}}},
	}
	samples := map[string][]string{
		"public.users.email":       {"a@corp.example", "b@corp.example"},
		"public.users.tax_id":      {"123-45-6789", "234-56-7890"},
		"public.users.phone":       {"4155550100"},
		"public.users.profile":     {`{"contact": {"email": "c@corp.example"}, "tags": ["+1 415-555-0100"], "n": 1}`, `{"tags": []}`},
		"public.users.created_at":  {"2024-01-05 10:00:00+00"},
		"public.users.last_ip":     {"10.1.2.3", "10.1.2.4"},
		"public.users.nick":        {"jdoe", "bob"},
		"My Schema.Orders.Card No": {"4111 1111 1111 1111"},
		"My Schema.Orders.note":    {"shipped", "jane.doe@corp.example"},
	}
	pl := resolve(t, `levels:
  full:
    keep: ["*.*.id"]
    public.users:
      email: {strategy: fake-email}
      nick: keep
    "My Schema.Orders":
      note: keep
`, "full", tables)
	r := pl.Report(func(table, column string) [][]byte {
		var out [][]byte
		for _, v := range samples[table+"."+column] {
			out = append(out, []byte(v))
		}
		return out
	})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	if err := r.WriteSuggestions(&b); err != nil {
		t.Fatal(err)
	}
	for _, vs := range samples {
		for _, v := range vs {
			if len(v) > 4 && strings.Contains(b.String(), v) {
				t.Errorf("the report quotes a sampled value: %q", v)
			}
		}
	}
	// The suggestions are a rules file that covers every column.
	suggested, err := ParseRules([]byte(b.String()[strings.Index(b.String(), "levels:"):]))
	if err != nil {
		t.Fatalf("suggestions do not parse: %v", err)
	}
	if _, err := suggested.Profile("full"); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden", b.String())
}
