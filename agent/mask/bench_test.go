package mask

import (
	"testing"
)

// BenchmarkMaskLine masks rows of the sample schema with the full level of
// deploy/masking.example.yaml. One op is one row.
func BenchmarkMaskLine(b *testing.B) {
	r, err := LoadRules("../../deploy/masking.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	benches := []struct {
		name    string
		level   string
		table   string
		columns []string
		line    string
	}{
		{"users/full", "full", "public.users", usersColumns,
			"1042\tjohn.doe1042@example.com\t123-45-6789\t+1 415-555-0100\tJohn Smith\t2024-05-01 10:00:00.123456+00"},
		{"users/partial", "partial", "public.users", usersColumns,
			"1042\tjohn.doe1042@example.com\t123-45-6789\t+1 415-555-0100\tJohn Smith\t2024-05-01 10:00:00.123456+00"},
		{"payments/full", "full", "public.payments", []string{"id", "user_id", "card_number", "amount", "created_at"},
			"88123\t1042\t4111111111111111\t129.99\t2024-05-01 10:00:00.123456+00"},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			p, err := r.Profile(bb.level)
			if err != nil {
				b.Fatal(err)
			}
			m, _, err := p.ForTable(bb.table, bb.columns, Options{Key: testKey})
			if err != nil {
				b.Fatal(err)
			}
			line := []byte(bb.line)
			dst := make([]byte, 0, 4096)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if dst, err = m.MaskLine(dst[:0], line); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
		})
	}
}

// BenchmarkCopyCodec measures splitting, decoding and encoding a row with escapes.
func BenchmarkCopyCodec(b *testing.B) {
	line := []byte("1042\tjohn\\tdoe@example.com\tline one\\nline two\\\\x\t\\N\tJohn Smith\t2024-05-01 10:00:00+00")
	fields := make([][]byte, 0, 8)
	val := make([]byte, 0, 256)
	out := make([]byte, 0, 256)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		fields = SplitFields(fields[:0], line)
		out = out[:0]
		for _, f := range fields {
			if IsNull(f) {
				out = append(out, NullField...)
				continue
			}
			val, _ = DecodeField(val[:0], f)
			out = AppendField(out, val)
		}
	}
}

// BenchmarkMaskValue measures one value per strategy. One op is one value.
func BenchmarkMaskValue(b *testing.B) {
	benches := []struct{ rule, value string }{
		{"{strategy: partial}", "john.doe1042@example.com"},
		{"{strategy: token}", "john.doe1042@example.com"},
		{"{strategy: fake-email, unique: true}", "john.doe1042@example.com"},
		{"{strategy: fake-phone}", "+1 415-555-0100"},
		{"{strategy: fake-ssn}", "123-45-6789"},
		{"{strategy: fake-card}", "4111111111111111"},
		{"{strategy: fake-name}", "John Smith"},
	}
	for _, bb := range benches {
		b.Run(bb.rule, func(b *testing.B) {
			m := maskerFor(b, []string{"c"}, map[string]string{"c": bb.rule})
			v := []byte(bb.value)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.MaskValue("c", v, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
