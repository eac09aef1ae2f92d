package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clonebot/clonebot/provisioner"
)

// ErrNotFound is returned when the clone or secret asked for does not exist.
var ErrNotFound = errors.New("not found")

// secretJSON is the secret's stored form, the one the Secrets Manager console and
// `aws secretsmanager get-secret-value` show for RDS credentials.
type secretJSON struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
	DBName   string `json:"dbname"`
}

func encodeCredentials(c provisioner.Credentials) (string, error) {
	b, err := json.Marshal(secretJSON{
		Engine: c.Engine, Host: c.Host, Port: c.Port, Username: c.Username,
		Password: c.Password.Reveal(), DBName: c.DBName,
	})
	if err != nil {
		return "", fmt.Errorf("encode credentials: %w", err)
	}
	return string(b), nil
}

func decodeCredentials(s string) (provisioner.Credentials, error) {
	var j secretJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		// The value is not quoted into the error: it holds a password.
		return provisioner.Credentials{}, errors.New("decode credentials: the secret is not a credentials JSON document")
	}
	if j.Password == "" {
		return provisioner.Credentials{}, errors.New("decode credentials: the secret has no password")
	}
	return provisioner.Credentials{
		Engine: j.Engine, Host: j.Host, Port: j.Port, Username: j.Username,
		Password: provisioner.NewPassword(j.Password), DBName: j.DBName,
	}, nil
}

// storedSecret is a clone's secret: its ARN and what it holds.
type storedSecret struct {
	arn   string
	creds provisioner.Credentials
}

// readSecret returns the secret called id (a name or an ARN); ErrNotFound when it does not exist.
func readSecret(ctx context.Context, api secretsAPI, id string) (storedSecret, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: sdkaws.String(id)})
	if err != nil {
		if isSecretNotFound(err) {
			return storedSecret{}, fmt.Errorf("secret %s: %w", id, ErrNotFound)
		}
		return storedSecret{}, fmt.Errorf("read secret %s: %w", id, err)
	}
	creds, err := decodeCredentials(sdkaws.ToString(out.SecretString))
	if err != nil {
		return storedSecret{}, fmt.Errorf("secret %s: %w", id, err)
	}
	return storedSecret{arn: sdkaws.ToString(out.ARN), creds: creds}, nil
}

// ensureSecret returns the request's secret, creating it with a new password when it does
// not exist yet. It runs before anything else is made, so no cluster ever has a password
// that is not stored.
func (p *Provisioner) ensureSecret(ctx context.Context, n names, tags tagSet, creds provisioner.Credentials) (storedSecret, error) {
	s, err := readSecret(ctx, p.secrets, n.secret)
	if !errors.Is(err, ErrNotFound) {
		return s, err
	}
	if creds.Password, err = p.NewPassword(); err != nil {
		return storedSecret{}, err
	}
	value, err := encodeCredentials(creds)
	if err != nil {
		return storedSecret{}, err
	}
	out, err := p.secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         sdkaws.String(n.secret),
		Description:  sdkaws.String("clonebot clone credentials"),
		SecretString: sdkaws.String(value),
		KmsKeyId:     optional(p.cfg.KMSKeyID), // the clone's key, not the account's aws/secretsmanager
		Tags:         tags.secrets(),
	})
	var exists *smtypes.ResourceExistsException
	if errors.As(err, &exists) {
		// Another call made it between our read and our create: use theirs.
		return readSecret(ctx, p.secrets, n.secret)
	}
	if err != nil {
		return storedSecret{}, fmt.Errorf("create secret %s: %w", n.secret, err)
	}
	return storedSecret{arn: sdkaws.ToString(out.ARN), creds: creds}, nil
}

// writeSecret replaces the secret's value with creds.
func (p *Provisioner) writeSecret(ctx context.Context, s storedSecret) error {
	value, err := encodeCredentials(s.creds)
	if err != nil {
		return err
	}
	if _, err := p.secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     sdkaws.String(s.arn),
		SecretString: sdkaws.String(value),
	}); err != nil {
		return fmt.Errorf("update secret %s: %w", s.arn, err)
	}
	return nil
}

func isSecretNotFound(err error) bool {
	var nf *smtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// SecretStore resolves a clone's credential reference (its secret's ARN) to credentials.
type SecretStore struct {
	secrets secretsAPI
}

var _ provisioner.SecretStore = (*SecretStore)(nil)

// NewSecretStore returns a SecretStore reading Secrets Manager through c.
func NewSecretStore(c Clients) *SecretStore { return &SecretStore{secrets: c.Secrets} }

// Resolve returns the credentials stored under ref. It returns ErrNotFound when the secret
// does not exist (the clone was destroyed).
func (s *SecretStore) Resolve(ctx context.Context, ref string) (provisioner.Credentials, error) {
	stored, err := readSecret(ctx, s.secrets, ref)
	if err != nil {
		return provisioner.Credentials{}, err
	}
	return stored.creds, nil
}
