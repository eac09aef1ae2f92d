package mask

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Defaults of the noise and shift strategies, and the token lengths of masking by type.
const (
	defaultNoisePercent = 10
	defaultShiftDays    = 365
	byTypeTokenLen      = 32 // hex characters: 128 bits
	jsonTokenLen        = 16 // hex characters of a masked JSON string: 64 bits
)

// Errors of the type-aware strategies; they never carry the value.
var (
	ErrNotNumber = errors.New("value is not a number")
	ErrNotDate   = errors.New("value is not an ISO date or timestamp")
)

// byTypeRule returns the rule mask-by-type applies to one value of the (element) type t.
func byTypeRule(t colType) *rule {
	rl := &rule{strategy: byType, name: "by type: " + t.byTypeName(), typ: t}
	switch t.kind {
	case kindText:
		rl.format, rl.length = formatHex, byTypeTokenLen
		if t.length > 0 {
			rl.length = min(rl.length, t.length)
		}
	case kindInt, kindNumeric, kindFloat:
		rl.percent = defaultNoisePercent
	case kindDate, kindTimestamp:
		rl.days = defaultShiftDays
	}
	return rl
}

// jsonStringRule and jsonNumberRule mask the strings and numbers of a document masked by type.
var (
	jsonStringRule = &rule{strategy: token, name: StrategyToken, format: formatHex, length: jsonTokenLen}
	jsonNumberRule = &rule{strategy: noise, name: StrategyNoise, percent: defaultNoisePercent}
)

// byTypeValue masks one value by its type (see byTypeRule).
func (m *TableMasker) byTypeValue(dst []byte, rl *rule, v []byte) ([]byte, error) {
	switch rl.typ.kind {
	case kindText:
		return m.token(dst, rl, v), nil
	case kindInt, kindNumeric, kindFloat:
		return m.noise(dst, rl, rl.typ, v)
	case kindDate, kindTimestamp:
		return m.shift(dst, rl, v)
	case kindJSON:
		return m.maskJSON(dst, v, nil)
	case kindUUID:
		return m.fakeUUID(dst, v), nil
	case kindBytea:
		return m.fakeBytes(dst, v), nil
	}
	return dst, fmt.Errorf("type %s has no default masking", rl.typ.name)
}

// random returns 64 bits of the keyed PRF of (tag, v).
func (m *TableMasker) random(tag string, v []byte) uint64 {
	m.prf(tag, 0, 0, v)
	return binary.LittleEndian.Uint64(m.sum)
}

// noise moves a number by a keyed amount of at most rl.percent of its size (at least one unit
// of its last digit), never to itself, within the type: an integer stays in its range, a
// numeric keeps its scale and precision, a float its width. NaN and infinities stay.
func (m *TableMasker) noise(dst []byte, rl *rule, t colType, v []byte) ([]byte, error) {
	switch string(v) {
	case "NaN", "Infinity", "-Infinity", "inf", "-inf", "infinity", "-infinity":
		return append(dst, v...), nil
	}
	r := m.random(StrategyNoise, v)
	up := m.sum[8]&1 == 1
	switch {
	case t.kind == kindFloat || bytes.ContainsAny(v, "eE"):
		return noiseFloat(dst, v, r, up, rl.percent, t.bits)
	case t.kind == kindInt:
		return noiseInt(dst, v, r, up, rl.percent, t.bits)
	}
	return noiseDecimal(dst, v, r, up, rl.percent, t.prec)
}

func noiseInt(dst, v []byte, r uint64, up bool, pct, bits int) ([]byte, error) {
	x, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return dst, ErrNotNumber
	}
	hi := int64(1)<<(bits-1) - 1
	lo := -hi - 1
	size := x
	if size < 0 {
		size = -size
		if size < 0 { // the smallest int64
			size = math.MaxInt64
		}
	}
	most := size/100*int64(pct) + size%100*int64(pct)/100
	d := int64(r%uint64(max(most, 1))) + 1
	if up && x > hi-d || !up && x < lo+d {
		up = !up
	}
	if up {
		return strconv.AppendInt(dst, x+d, 10), nil
	}
	return strconv.AppendInt(dst, x-d, 10), nil
}

func noiseDecimal(dst, v []byte, r uint64, up bool, pct, prec int) ([]byte, error) {
	s := string(v)
	neg := len(s) > 0 && s[0] == '-'
	if neg || len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	if digits == "" || !allDigits(digits) {
		return dst, ErrNotNumber
	}
	x, _ := new(big.Int).SetString(digits, 10)
	if neg {
		x.Neg(x)
	}
	most := new(big.Int).Abs(x)
	most.Mul(most, big.NewInt(int64(pct))).Quo(most, big.NewInt(100))
	if most.Sign() == 0 {
		most.SetInt64(1)
	}
	d := new(big.Int).SetUint64(r)
	d.Mod(d, most).Add(d, big.NewInt(1))
	if !up {
		d.Neg(d)
	}
	y := new(big.Int).Add(x, d)
	if prec > 0 { // numeric(prec, scale): at most prec digits
		limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(prec)), nil)
		if new(big.Int).Abs(y).Cmp(limit) >= 0 {
			y.Sub(x, d)
		}
	}
	if y.Sign() < 0 {
		dst = append(dst, '-')
	}
	out := y.Abs(y).String()
	scale := len(frac)
	if scale == 0 {
		return append(dst, out...), nil
	}
	if pad := scale + 1 - len(out); pad > 0 {
		out = strings.Repeat("0", pad) + out
	}
	dst = append(dst, out[:len(out)-scale]...)
	dst = append(dst, '.')
	return append(dst, out[len(out)-scale:]...), nil
}

func noiseFloat(dst, v []byte, r uint64, up bool, pct, bits int) ([]byte, error) {
	if bits == 0 {
		bits = 64
	}
	f, err := strconv.ParseFloat(string(v), bits)
	if err != nil {
		return dst, ErrNotNumber
	}
	u := (float64(r>>11) + 1) / (1 << 53) * float64(pct) / 100
	if !up {
		u = -u
	}
	g := f * (1 + u)
	if f == 0 {
		g = u
	}
	if bits == 32 {
		g = float64(float32(g))
	}
	if g == f {
		g = math.Nextafter(f, math.Inf(1))
	}
	return strconv.AppendFloat(dst, g, 'g', -1, bits), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// shift moves a date, or the date of a timestamp, by a keyed number of days between 1 and
// rl.days, earlier or later; the time of day and zone stay. Values are as pg_dump writes them
// (DateStyle ISO): 2024-01-05, 2024-01-05 10:11:12.5+01, 0044-03-15 BC; infinities stay.
func (m *TableMasker) shift(dst []byte, rl *rule, v []byte) ([]byte, error) {
	s := string(v)
	if s == "infinity" || s == "-infinity" {
		return append(dst, v...), nil
	}
	bc := len(s) > 3 && s[len(s)-3:] == " BC"
	if bc {
		s = s[:len(s)-3]
	}
	date, rest := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == 'T' {
			date, rest = s[:i], s[i:]
			break
		}
	}
	y, mo, d, ok := parseISODate(date)
	if !ok {
		return dst, ErrNotDate
	}
	if bc {
		y = 1 - y
	}
	r := m.random(StrategyShift, v)
	days := int(r%uint64(rl.days)) + 1
	if m.sum[8]&1 == 0 {
		days = -days
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, days)
	ny := t.Year()
	suffix := ""
	if ny <= 0 {
		ny, suffix = 1-ny, " BC"
	}
	dst = fmt.Appendf(dst, "%04d-%02d-%02d", ny, int(t.Month()), t.Day())
	dst = append(dst, rest...)
	return append(dst, suffix...), nil
}

// parseISODate reads YYYY-MM-DD, with a year of four or more digits.
func parseISODate(s string) (y, m, d int, ok bool) {
	if len(s) < 10 || s[len(s)-3] != '-' || s[len(s)-6] != '-' {
		return 0, 0, 0, false
	}
	ys, ms, ds := s[:len(s)-6], s[len(s)-5:len(s)-3], s[len(s)-2:]
	if !allDigits(ys) || !allDigits(ms) || !allDigits(ds) || len(ys) > 7 {
		return 0, 0, 0, false
	}
	y, _ = strconv.Atoi(ys)
	m, _ = strconv.Atoi(ms)
	d, _ = strconv.Atoi(ds)
	return y, m, d, m >= 1 && m <= 12 && d >= 1 && d <= 31
}

// fakeUUID returns a keyed version-4 UUID.
func (m *TableMasker) fakeUUID(dst, v []byte) []byte {
	m.prf("uuid", 0, 0, v)
	b := m.sum[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:16])
	return append(dst, buf[:]...)
}

// fakeBytes returns keyed bytes of the value's length, in bytea's hex form (\x...).
func (m *TableMasker) fakeBytes(dst, v []byte) []byte {
	n := len(v)
	if bytes.HasPrefix(v, []byte(`\x`)) {
		n = (len(v) - 2) / 2
	}
	dst = append(dst, '\\', 'x')
	if n == 0 {
		return dst
	}
	m.prf("bytes", 0, 0, v)
	var seed [16]byte
	copy(seed[:], m.sum)
	for block := 0; n > 0; block++ {
		m.prf("bytes", byte(block>>8), byte(block), seed[:])
		k := min(n, len(m.sum))
		dst = hex.AppendEncode(dst, m.sum[:k])
		n -= k
	}
	return dst
}
