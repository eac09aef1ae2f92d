package agent

import "fmt"

// Failure is an error whose Reason can be shown to the requester: it names what went wrong in
// terms of the backup, the rules or the clone, never an internal detail or a secret.
type Failure struct {
	Reason    string
	Permanent bool // retrying cannot help (corrupt backup, bad rules, gate failed)
	Err       error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Reason
	}
	return f.Reason + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// permanent wraps err as a Failure that is not retried.
func permanent(err error, format string, args ...any) error {
	return &Failure{Reason: fmt.Sprintf(format, args...), Permanent: true, Err: err}
}
