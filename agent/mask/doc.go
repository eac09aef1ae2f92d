// Package mask owns clonebot's masking: the rules file, the per-level profiles, the plan
// that accounts for every column of a backup, the per-column strategies, the detectors of
// personal data, and the COPY text codec the restore agent masks rows with while loading
// (and the in-place masker and the verification gate call value by value).
//
// # Rules file
//
// YAML; levels are tiers' masking levels, tables are "schema.table" (or "table" for public):
//
//	levels:
//	  full:
//	    unclassified: refuse          # or mask-by-type, or keep
//	    large_objects: refuse         # or drop, or keep
//	    keep: ["*.*.id", "*.*.*_id"]  # schema.table.column globs declared safe
//	    public.countries: keep        # every column of a table declared safe
//	    public.users:
//	      email: {strategy: fake-email, unique: true}
//	      ssn:   {strategy: fake-ssn}
//	      nick:  keep
//	      profile: {json: {email: {strategy: fake-email}, "contacts[*].phone": {strategy: fake-phone}}}
//	  partial:
//	    public.users:
//	      email: {strategy: partial, unique: true}
//	      ssn:   {strategy: partial, keep_first: 0, keep_last: 4}
//	  none: {}
//
// Rule fields: strategy (required), unique, value (fixed), format and length (token),
// keep_first and keep_last (partial), percent (noise), days (shift); or json alone, a mapping
// of paths inside a json or jsonb document (member names, * for any member, [n] and [*] for
// array elements) to rules, which mask every scalar under the path and keep the rest of the
// document byte for byte. The words unclassified, large_objects and keep are a level's
// settings, so a table of that name, or of a name one or two letters from unclassified or
// large_objects (a typo of a setting), is written with its schema: public.keep. The level
// "none" is an empty profile when the file leaves it out; other levels must be defined.
//
// The file is read strictly (internal/yamlerr): every mistake, from a YAML syntax error to an
// option a strategy does not take, is a *RulesError that names the file, the key's dotted
// path, its line, what is allowed there and, for a typo, the nearest word
// (testdata/rules_errors.golden holds one of each kind). A rule naming a table or column the
// backup lacks is found by Resolve, with its level and line.
//
// # Every column accounted for
//
// Profile.Resolve applies a level to a backup's tables (Table, from the backup's schema or a
// database's catalog) and returns a Plan: each column is masked by its own rule or a
// parent's (a rule or keep on a partitioned or inheritance parent covers its partitions and
// children), declared safe (keep), or unclassified. What is unclassified follows the level's
// unclassified policy: refuse (the default of every level but none; Plan.Refusal names every
// such column), mask-by-type (text becomes a token, numbers move by keyed noise within their
// type, dates and timestamps shift, json strings and numbers are masked, uuids and bytea are
// replaced; a type without a default stays unclassified), or keep (copied, and read by the
// gate's detectors). Plan.ForTable builds the masker of the rows copied into a table;
// Plan.LoadVia routes rows through the partitioned table when a masked column is in a
// partition key. Plan.Summary counts the columns, as /clone explain reports them
// (Rules.Summarize).
//
// # Strategies
//
// Keyed strategies take their output from a keyed PRF: token from HMAC-SHA256 with
// Options.Key; the fakes and the partial tags from SipHash-2-4-128 (about a fifth of the
// cost on short values) under a 128-bit key derived from Options.Key with HMAC-SHA256. The
// key is a secret kept outside the dump, so the values cannot be recomputed from a
// dictionary without it. The PRF input is the strategy name and the value only, never the
// table or column: a strategy maps equal values to equal outputs in every table, and
// foreign keys and joins keep matching. Another key gives other outputs. NULL stays NULL
// and the empty string stays empty, except under null and fixed.
//
//   - partial: an email keeps the first half of its local part (at most 6 characters, or
//     keep_first; keep_last does not apply), then ***, then @domain: john.doe@example.com →
//     john***@example.com. Any other value keeps its first keep_first and last keep_last
//     letters or digits (default 1 and 1) and stars the letters and digits between;
//     punctuation and spaces stay, so 4111 1111 1111 1111 with keep_first 0, keep_last 4 →
//     **** **** **** 1111. A value too short to hide anything is starred entirely. Unique adds a keyed tag (+tag inside the
//     email's local part, ~tag after other values), since redaction alone collides.
//   - token: the HMAC-SHA256 in lower-case hex (64 characters) or base32 (52), cut to length.
//   - fake-email: firstname.<tag>@example.com, the tag 80 bits of the PRF in base32.
//   - fake-phone: every digit replaced, layout and length kept; a leading +cc of up to three
//     digits is kept. A value without digits becomes 555-01dd.
//   - fake-ssn: 9xx-xx-xxxx (the never-issued 900-999 area, group 01-99, serial 0001-9999),
//     in the input's layout when it has nine digits.
//   - fake-card: length, layout and the first two digits (the network) kept, the rest
//     replaced, the last digit a valid Luhn check digit. Under 12 digits: as fake-phone.
//   - fake-name: "First Last" (or "First" for a one-word input) from built-in lists.
//   - null: always NULL. fixed: always value, NULL included.
//   - noise: a number moved by a keyed amount of at most percent (default 10) of its size,
//     at least one unit of its last digit, never to itself, within its type (range, scale,
//     precision). NaN and infinities stay.
//   - shift: a date, or a timestamp's date, moved by a keyed 1 to days (default 365) days,
//     earlier or later; time and zone stay.
//
// On an array column, strategies other than null and fixed mask each element.
//
// A fake never equals its input: a fake that happens to equal it is derived again with a
// counter in the PRF input. Partial redaction is not a fake: a value with no letters or
// digits, or one already redacted, comes out unchanged. For a verification gate: a value
// MaskValue maps to itself (the empty string, such a partial value) is nothing the rules can
// hide; and fakes share the value space of real data (any phone layout, Luhn-valid cards,
// 9xx SSNs, names from a list), so a fake can equal another row's original value. A gate
// that looks for sampled originals anywhere in a column finds such coincidences (for phones
// of 10 free digits, 2·10^6 rows and 1,000 samples: 0.2 expected); compare row by row.
//
// # Detectors
//
// DetectValues and DetectName recognise emails, card numbers (a valid Luhn digit), IBANs
// (mod 97), national ids (US SSNs as issued, UK NINOs), IP addresses, phone numbers, names
// and dates of birth, by a column's sampled values (each detector needs a share of them) or
// its name. The verification gate blocks a clone whose unmasked, undeclared text looks like
// any of them; Plan.Report (clonebot masking check) suggests rules from them. Detectors read
// whole values: a free-text column that mentions an email now and then is beyond them.
//
// # Uniqueness
//
// unique: true is accepted on token (at least 64 bits: hex length ≥ 16, base32 ≥ 13),
// fake-email, partial and null. Those outputs carry k bits of a keyed PRF, so n distinct
// inputs collide with probability at most n²/2^(k+1): for the 80-bit tag of fake-email and
// partial, about n²/2^81 (10^6 values: 4·10^-13; 10^9 values: 4·10^-7); for a full 256-bit
// token, nil in practice. fake-phone, fake-ssn, fake-card and fake-name draw from spaces too
// small to promise uniqueness (10^8 SSNs, 4,096 names), so unique on them is rejected.
//
// # COPY text
//
// SplitFields, IsNull, DecodeField and AppendField read and write PostgreSQL's COPY text
// format (tab delimiter, \N for NULL) exactly: AppendField escapes as COPY TO does, and
// DecodeField accepts every escape COPY FROM does. UTF-8 passes through untouched. A field
// ending in a lone backslash is rejected (ErrBadEscape).
//
// # Concurrency and allocation
//
// A TableMasker reuses scratch buffers: one goroutine at a time, Clone for each worker. In
// the steady state MaskLine allocates nothing beyond the growth of dst. Errors never carry
// data values, only table and column names.
package mask
