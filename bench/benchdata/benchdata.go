// Package benchdata is the benches' sample "production" database: users with personal data
// and their payments, as the example masking rules (deploy/masking.example.yaml) expect.
package benchdata

import (
	"strconv"
	"strings"
)

// RawDomain marks every generated email, so a grep needs one pattern for all of them.
const RawDomain = "@rawmail.example"

// schema generates the source, with :rows rows in each table. SSNs use areas 100-899 as real ones do (9xx is never issued,
// and is where fake-ssn draws from).
const schema = `
CREATE TABLE users (
  id bigint PRIMARY KEY,
  email text NOT NULL UNIQUE,
  ssn text NOT NULL,
  phone text NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_name_idx ON users (name);
CREATE TABLE payments (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id),
  card_number text NOT NULL,
  amount numeric(12,2) NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX payments_user_id_idx ON payments (user_id);
INSERT INTO users
  SELECT g, 'u' || g || '.' || substr(md5(g::text), 1, 8) || '` + RawDomain + `',
         (((g::bigint * 7919) % 800) + 100)::text || '-' || lpad(((g * 31) % 99 + 1)::text, 2, '0') || '-' || lpad(((g * 17) % 9999 + 1)::text, 4, '0'),
         '+1 (415) 555-' || lpad((g % 10000)::text, 4, '0'),
         (ARRAY['Alice','Bob','Carol','Dave','Erin','Frank','Grace','Heidi'])[g % 8 + 1] || ' ' || substr(md5(g::text), 9, 8),
         timestamptz '2020-01-01' + g * interval '1 second'
  FROM generate_series(1, :rows) g;
INSERT INTO payments
  SELECT g, (g::bigint * 7) % :rows + 1,
         '4' || lpad(((g::bigint * 2654435761) % 1000000000000000)::text, 15, '0'),
         (g % 100000) / 100.0, timestamptz '2021-01-01' + g * interval '1 second'
  FROM generate_series(1, :rows) g;
`

// Schema is the SQL that makes the sample database with rows users and rows payments.
func Schema(rows int) string { return strings.ReplaceAll(schema, ":rows", strconv.Itoa(rows)) }
