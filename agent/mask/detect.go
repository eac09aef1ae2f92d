package mask

import (
	"bytes"
	"math/big"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Detector recognises one kind of personal data in a column's name or in its values. The
// verification gate reads sampled values with them; clonebot masking check also reads names,
// and suggests Rule for what they find.
type Detector struct {
	Name string // plural, as messages say it: "emails", "card numbers"
	// Rule is the rule suggested for a text column of such values, in YAML flow style.
	Rule string
	// MinShare is the share of a column's sampled values that must match before the
	// detector speaks: lower for checked formats (a Luhn digit, a mod-97 checksum) than for
	// loose ones (phone numbers, names).
	MinShare float64
	value    func(v string) bool // nil: the detector reads names only
	names    *regexp.Regexp
}

// Detectors are tried in this order; the first of equal shares names a column.
var detectors = []*Detector{
	{Name: "emails", Rule: "{strategy: fake-email}", MinShare: 0.05, value: isEmail,
		names: regexp.MustCompile(`e_?mail|(^|_)mail(_|$)`)},
	{Name: "card numbers", Rule: "{strategy: fake-card}", MinShare: 0.2, value: isCardNumber,
		names: regexp.MustCompile(`card_?(number|num|no)|credit_?card|(^|_)(pan|cc_?number|ccnum)(_|$)`)},
	{Name: "IBANs", Rule: "{strategy: partial, keep_first: 2, keep_last: 0}", MinShare: 0.05, value: isIBAN,
		names: regexp.MustCompile(`iban|bank_?account|account_?number`)},
	{Name: "national ids", Rule: "{strategy: fake-ssn}", MinShare: 0.05, value: isNationalID,
		names: regexp.MustCompile(`ssn|social_?security|national_?(id|insurance)|tax_?(id|number)|taxpayer|passport|(^|_)(nin|tin|sin|nino)(_|$)`)},
	{Name: "IP addresses", Rule: "{strategy: token, length: 16}", MinShare: 0.05, value: isIPAddress,
		names: regexp.MustCompile(`(^|_)ip(_|$)|ip_?addr|remote_?addr|(^|_)ipv[46]`)},
	{Name: "phone numbers", Rule: "{strategy: fake-phone}", MinShare: 0.3, value: isPhone,
		names: regexp.MustCompile(`phone|mobile|msisdn|(^|_)(tel|telephone|fax|cell)(_|$)`)},
	{Name: "names", Rule: "{strategy: fake-name}", MinShare: 0.3, value: isPersonName,
		names: regexp.MustCompile(`^(first|last|given|family|middle|full|display|maiden|sur|user|contact|customer|person)_?name$|^name$|surname`)},
	{Name: "dates of birth", Rule: "{strategy: shift}", MinShare: 1,
		names: regexp.MustCompile(`dob|birth|(^|_)born(_|$)`)},
}

// Finding is a detector that recognised a column's sampled values.
type Finding struct {
	Detector *Detector
	Hits     int // values it matched
	Sampled  int // non-empty values it read
}

// DetectValues runs every detector over sampled values (NULLs left out) and returns those
// whose share of matches reaches their MinShare, the largest share first.
func DetectValues(values [][]byte) []Finding {
	var out []Finding
	n := 0
	for _, v := range values {
		if len(bytes.TrimSpace(v)) > 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	for _, d := range detectors {
		if d.value == nil {
			continue
		}
		hits := 0
		for _, v := range values {
			if s := strings.TrimSpace(string(v)); s != "" && d.value(s) {
				hits++
			}
		}
		if hits > 0 && float64(hits) >= d.MinShare*float64(n) {
			out = append(out, Finding{Detector: d, Hits: hits, Sampled: n})
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return b.Hits - a.Hits })
	return out
}

// DetectName returns the detector a column's name points to, if any.
func DetectName(column string) (*Detector, bool) {
	name := snakeCase(column)
	for _, d := range detectors {
		if d.names.MatchString(name) {
			return d, true
		}
	}
	return nil, false
}

// snakeCase lower-cases a name, with an underscore at each lower-to-upper change and for
// spaces and dashes: "EmailAddress" and "email address" → email_address.
func snakeCase(s string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range s {
		switch {
		case r == ' ' || r == '-':
			r = '_'
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
		prev = r
	}
	return b.String()
}

var emailPattern = regexp.MustCompile(`^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$`)

func isEmail(s string) bool { return len(s) <= 320 && emailPattern.MatchString(s) }

// digitsOf returns the digits of s if s has only digits and the separators in seps.
func digitsOf(s, seps string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			b.WriteByte(c)
		case strings.IndexByte(seps, c) < 0:
			return "", false
		}
	}
	return b.String(), true
}

func isCardNumber(s string) bool {
	d, ok := digitsOf(s, " -")
	if !ok || len(d) < 13 || len(d) > 19 || d[0] < '2' || d[0] > '6' {
		return false
	}
	payload := make([]byte, len(d)-1)
	for i := range payload {
		payload[i] = d[i] - '0'
	}
	return luhnCheckDigit(payload) == d[len(d)-1]-'0'
}

var ibanPattern = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$`)

func isIBAN(s string) bool {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if !ibanPattern.MatchString(s) {
		return false
	}
	// ISO 13616: move the first four characters to the end, letters as 10-35, mod 97 is 1.
	var num strings.Builder
	for _, c := range s[4:] + s[:4] {
		if c >= 'A' && c <= 'Z' {
			num.WriteString(strconv.Itoa(int(c-'A') + 10))
		} else {
			num.WriteRune(c)
		}
	}
	n, ok := new(big.Int).SetString(num.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

var (
	ssnPattern  = regexp.MustCompile(`^([0-9]{3})-([0-9]{2})-([0-9]{4})$`)
	ninoPattern = regexp.MustCompile(`^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]$`)
)

// isNationalID matches US social security numbers as they are issued (not area 000, 666 or
// 900-999, group 00 or serial 0000) and UK national insurance numbers.
func isNationalID(s string) bool {
	if m := ssnPattern.FindStringSubmatch(s); m != nil {
		return m[1] != "000" && m[1] != "666" && m[1][0] != '9' && m[2] != "00" && m[3] != "0000"
	}
	return ninoPattern.MatchString(strings.ToUpper(s))
}

func isIPAddress(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return strings.Count(s, ".") == 3 || strings.Contains(s, ":")
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

var isoDatePrefix = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}`)

// isPhone matches 7 to 15 digits written with a leading + or with separators (spaces,
// dashes, dots, parentheses), which tells them from plain numbers; dates, IP addresses and
// national ids are not phone numbers.
func isPhone(s string) bool {
	d, ok := digitsOf(s, " -.()+/")
	if !ok || len(d) < 7 || len(d) > 15 || len(d) == len(s) || isoDatePrefix.MatchString(s) || isIPAddress(s) || isNationalID(s) {
		return false
	}
	if strings.Count(s, "+") > 1 || strings.Contains(s, "+") && s[0] != '+' {
		return false
	}
	return true
}

// nameParticles may stand uncapitalised inside a name.
var nameParticles = map[string]bool{"de": true, "la": true, "del": true, "da": true, "di": true, "du": true, "van": true,
	"von": true, "der": true, "den": true, "le": true, "bin": true, "al": true, "y": true}

// isPersonName matches two to four capitalised words (particles such as de or van aside)
// whose first, or its first part before a hyphen, is a common given name.
func isPersonName(s string) bool {
	words := strings.Fields(s)
	if len(words) < 2 || len(words) > 4 {
		return false
	}
	for i, w := range words {
		if i > 0 && i < len(words)-1 && nameParticles[w] {
			continue
		}
		r, size := utf8.DecodeRuneInString(w)
		if !unicode.IsUpper(r) {
			return false
		}
		for _, c := range w[size:] {
			if !unicode.IsLetter(c) && c != '-' && c != '\'' && c != '.' {
				return false
			}
		}
	}
	first, _, _ := strings.Cut(strings.ToLower(words[0]), "-")
	return givenNames[first]
}

// givenNames are common given names from many countries, lower case.
var givenNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`
		aaron abdul adam adrian ahmed aisha alan albert alex alexander alexandra alice alicia amanda amelia amir amy ana
		andrea andreas andrew angela anna anne anthony antonio arjun arthur barbara ben benjamin bernard beth betty bianca
		bob brian carl carlos carmen carol caroline catherine charles charlotte chen chloe chris christian christina
		christine christopher claire claudia daniel david deborah dennis diana diego dimitri dmitri donald donna dorothy
		edward elena elisabeth elizabeth ella emily emma eric erik ethan eva fatima felix fernando francesca francisco
		frank gabriel gary george grace hannah hans harry heidi helen henry hugo ian ibrahim irene isabel isabella ivan
		jack jacob james jan jane jason jean jeffrey jennifer jessica joan joe johannes john jonathan jorge jose joseph
		joshua juan judith julia julie karen karl kate katherine kathleen kenneth kevin kim laura lauren lawrence leo linda
		lisa liam lucas lucia luis maria marie mark martin mary mateo matthew maximilian mei michael michelle mohamed
		mohammed muhammad nancy natalia nathan nicholas nicole noah olga oliver olivia omar pablo patricia patrick paul
		pedro peter philip pierre priya rachel rafael rebecca richard robert roberto ronald rosa ruth ryan samuel sandra
		sara sarah scott sean sergei sharon sofia sophia sophie stephanie stephen steven susan thomas timothy tom tyler
		victor victoria vincent walter wei william yuki yusuf zoe
		ada edsger radia tim frances ken alan dave erin carol
		émilie élodie josé zoë andré rené françois jürgen søren björn łukasz`) {
		m[n] = true
	}
	for _, n := range firstNames {
		m[strings.ToLower(n)] = true
	}
	return m
}()
