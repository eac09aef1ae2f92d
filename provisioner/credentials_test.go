package provisioner

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		v := p.Reveal()
		if len(v) != PasswordLength {
			t.Fatalf("length %d, want %d", len(v), PasswordLength)
		}
		for _, c := range v {
			if !strings.ContainsRune(passwordAlphabet, c) {
				t.Fatalf("character %q outside the alphabet", c)
			}
		}
		if seen[v] {
			t.Fatal("duplicate password")
		}
		seen[v] = true
	}
}

func TestPasswordNeverPrints(t *testing.T) {
	p := NewPassword("s3cr3t-value")
	c := Credentials{Username: "u", Password: p}
	js, _ := json.Marshal(c)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", c, c, c, p), string(js)} {
		if strings.Contains(s, "s3cr3t-value") {
			t.Fatalf("password printed: %s", s)
		}
	}
	if p.Reveal() != "s3cr3t-value" {
		t.Fatal("Reveal lost the value")
	}
}
