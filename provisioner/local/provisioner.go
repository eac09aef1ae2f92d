package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/provisioner"
)

var (
	// ErrUnknownClone is returned by Extend for a request that has no clone.
	ErrUnknownClone = errors.New("unknown clone")
	// ErrNameTaken is returned when the database or role name of a request belongs to
	// something clonebot did not make; clonebot never alters or drops it.
	ErrNameTaken = errors.New("name taken by an object clonebot did not create")
	// ErrTemplateOpen is returned by Create for a fast-clone template that every role may
	// connect to: a clone's credentials would then reach the unmasked source.
	ErrTemplateOpen = errors.New("template database grants CONNECT to PUBLIC")
	// ErrTemplateBusy is returned by Create when other sessions keep using the template.
	ErrTemplateBusy = errors.New("template database is in use by other sessions")
)

// PostgreSQL error codes this package tells apart.
const (
	codeDuplicateObject   = "42710" // CREATE ROLE of an existing role
	codeDuplicateDatabase = "42P04"
	codeObjectInUse       = "55006" // CREATE DATABASE … TEMPLATE while others use the template
	codeUniqueViolation   = "23505" // a concurrent CREATE ROLE or DATABASE of the same name won
)

// Provisioner makes clones as databases and roles on one PostgreSQL server. It is safe for
// concurrent use; it holds no connection between calls.
type Provisioner struct {
	cfg     Config
	admin   *pgx.ConnConfig
	secrets *SecretStore
	log     *zap.Logger

	// NewPassword generates clone passwords; New sets it to provisioner.GeneratePassword.
	NewPassword func() (provisioner.Password, error)

	// fault, when set, runs after each numbered step of Create and Destroy; an error stops
	// the call there, as a crash would. Tests use it to prove retries finish the work.
	fault func(step string) error
}

var _ provisioner.Provisioner = (*Provisioner)(nil)

// New checks cfg and opens the secret store. It does not connect to the server.
func New(cfg Config, log *zap.Logger) (*Provisioner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	admin, err := cfg.adminConnConfig()
	if err != nil {
		return nil, err
	}
	secrets, err := NewSecretStore(cfg.SecretsDir)
	if err != nil {
		return nil, err
	}
	return &Provisioner{
		cfg:         cfg,
		admin:       admin,
		secrets:     secrets,
		log:         log.With(zap.String("backend", "local")),
		NewPassword: provisioner.GeneratePassword,
	}, nil
}

// SecretStore returns the store holding the clones' credentials, for the restore agent.
func (p *Provisioner) SecretStore() *SecretStore { return p.secrets }

// roleComment marks a role as made by clonebot for one request.
func roleComment(requestID string) string { return "clonebot clone of request " + requestID }

// Create makes the database and role of spec.RequestID, or finishes what an earlier call
// started. Every step checks what exists, so a retry after a crash anywhere makes no second
// database or role, and the stored credentials are always the ones the role accepts.
// Errors: provisioner.ErrUnknownSource, ErrNameTaken, ErrTemplateOpen, ErrTemplateBusy.
func (p *Provisioner) Create(ctx context.Context, spec provisioner.Spec, progress provisioner.ProgressFunc) (provisioner.Clone, error) {
	src, ok := p.cfg.Sources[spec.Source]
	if !ok {
		return provisioner.Clone{}, fmt.Errorf("create clone of %q: %w", spec.Source, provisioner.ErrUnknownSource)
	}
	if spec.Strategy != "" && spec.Strategy != src.Strategy {
		return provisioner.Clone{}, fmt.Errorf("create clone of %s: strategy %s asked, source is configured for %s", spec.Source, spec.Strategy, src.Strategy)
	}
	if spec.RequestID == "" || spec.ExpiresAt.IsZero() {
		return provisioner.Clone{}, errors.New("create clone: request id and expiry are required")
	}
	name := cloneName(spec.RequestID)
	log := p.log.With(zap.String("request_id", spec.RequestID), zap.String("database", name))
	conn, err := p.lock(ctx, name)
	if err != nil {
		return provisioner.Clone{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	// step 1: the role, unable to log in until its password is stored.
	if err := p.createRole(ctx, conn, name, spec.RequestID); err != nil {
		return provisioner.Clone{}, err
	}
	log.Info("clone role ready")
	progress.Report("role created", name)
	if err := p.after("role"); err != nil {
		return provisioner.Clone{}, err
	}

	// step 2: the database, owned by the role: empty for restore, a template copy for
	// fast-clone, a file copy of the golden copy for a thin copy.
	if spec.Golden != "" {
		src = SourceConfig{Strategy: strategyGolden, Template: cloneName(spec.Golden)}
	}
	if err := p.createDatabase(ctx, conn, name, src); err != nil {
		return provisioner.Clone{}, err
	}
	log.Info("clone database ready", zap.String("strategy", string(src.Strategy)))
	progress.Report("database created", name)
	if err := p.after("database"); err != nil {
		return provisioner.Clone{}, err
	}

	// step 3: only the role may connect; on a template copy it may use the copied objects.
	if err := p.restrict(ctx, conn, name, src); err != nil {
		return provisioner.Clone{}, err
	}
	if err := p.after("privileges"); err != nil {
		return provisioner.Clone{}, err
	}

	// step 4: the credentials, stored before the role accepts them; a retry reuses them.
	sec, err := p.storeSecret(name, spec)
	if err != nil {
		return provisioner.Clone{}, err
	}
	progress.Report("credentials stored", p.secrets.ref(name))
	if err := p.after("secret"); err != nil {
		return provisioner.Clone{}, err
	}

	// step 5: the role logs in with the stored password until the expiry.
	if err := p.enableLogin(ctx, conn, name, provisioner.NewPassword(sec.Password), spec.ExpiresAt); err != nil {
		return provisioner.Clone{}, err
	}
	log.Info("clone login enabled", zap.Time("valid_until", spec.ExpiresAt))
	progress.Report("login enabled", "until the clone expires")

	return provisioner.Clone{
		RequestID:     spec.RequestID,
		Host:          p.cfg.Host,
		Port:          p.cfg.Port,
		Database:      name,
		User:          name,
		CredentialRef: p.secrets.ref(name),
		Resources:     []string{"database/" + name, "role/" + name},
	}, nil
}

func (p *Provisioner) createRole(ctx context.Context, conn *pgx.Conn, name, requestID string) error {
	ident := pgx.Identifier{name}.Sanitize()
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// INHERIT: no role is ever granted to it, and with it the owner of the clone database
		// gets pg_database_owner's rights there (PostgreSQL 15), so it owns the database's
		// public schema and the agent can drop and recreate it before a restore.
		if _, err := tx.Exec(ctx, "CREATE ROLE "+ident+" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "COMMENT ON ROLE "+ident+" IS "+quoteLiteral(roleComment(requestID)))
		return err
	})
	if err != nil && !hasCode(err, codeDuplicateObject, codeUniqueViolation) {
		return fmt.Errorf("create role %s: %w", name, err)
	}
	if err != nil {
		if _, err := p.ownRole(ctx, conn, name, requestID); err != nil {
			return err
		}
	}
	// A role that is not a superuser may create a database owned by another role, or drop
	// it and end its sessions, only as a member of that role.
	if _, err := conn.Exec(ctx, "GRANT "+ident+" TO CURRENT_USER"); err != nil {
		return fmt.Errorf("grant role %s to the admin role: %w", name, err)
	}
	return nil
}

// ownRole reports whether role name exists, and ErrNameTaken if it exists but is not the
// role clonebot made for requestID.
func (p *Provisioner) ownRole(ctx context.Context, conn *pgx.Conn, name, requestID string) (bool, error) {
	var comment *string
	err := conn.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up role %s: %w", name, err)
	}
	if comment == nil || *comment != roleComment(requestID) {
		return true, fmt.Errorf("role %s: %w", name, ErrNameTaken)
	}
	return true, nil
}

// databaseOwner returns the owner of database name, or "" when there is no such database.
func databaseOwner(ctx context.Context, conn *pgx.Conn, name string) (string, error) {
	var owner string
	err := conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", name).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up database %s: %w", name, err)
	}
	return owner, nil
}

func (p *Provisioner) createDatabase(ctx context.Context, conn *pgx.Conn, name string, src SourceConfig) error {
	owner, err := databaseOwner(ctx, conn, name)
	if err != nil {
		return err
	}
	if owner == name {
		return nil
	}
	if owner != "" {
		return fmt.Errorf("database %s (owner %s): %w", name, owner, ErrNameTaken)
	}
	ident := pgx.Identifier{name}.Sanitize()
	stmt := "CREATE DATABASE " + ident + " OWNER " + ident
	switch src.Strategy {
	case provisioner.StrategyFastClone:
		if err := p.freeTemplate(ctx, conn, src.Template); err != nil {
			return err
		}
		stmt = "CREATE DATABASE " + ident + " TEMPLATE " + pgx.Identifier{src.Template}.Sanitize() + " OWNER " + ident
	case strategyGolden:
		// A sealed golden copy takes no connections, so nothing can hold the copy up; its
		// files are copied as they are (FILE_COPY: no WAL for each page, unlike WAL_LOG).
		if err := p.freeTemplate(ctx, conn, src.Template); err != nil {
			return err
		}
		stmt = "CREATE DATABASE " + ident + " TEMPLATE " + pgx.Identifier{src.Template}.Sanitize() + " STRATEGY FILE_COPY OWNER " + ident
	}
	_, err = conn.Exec(ctx, stmt)
	switch {
	case err == nil:
		return nil
	case hasCode(err, codeDuplicateDatabase, codeUniqueViolation): // a concurrent call made it; check whose it is
		if owner, err := databaseOwner(ctx, conn, name); err != nil || owner != name {
			return fmt.Errorf("database %s (owner %s): %w", name, owner, errors.Join(ErrNameTaken, err))
		}
		return nil
	case hasCode(err, codeObjectInUse):
		return fmt.Errorf("copy template %s: %w (new sessions connected after clonebot ended the others; retry, or stop the applications using it)", src.Template, ErrTemplateBusy)
	default:
		return fmt.Errorf("create database %s: %w", name, err)
	}
}

// freeTemplate checks that clones cannot reach the template and ends the other sessions on
// it, since PostgreSQL copies a template only while nobody else is connected to it.
func (p *Provisioner) freeTemplate(ctx context.Context, conn *pgx.Conn, template string) error {
	var exists, open bool
	err := conn.QueryRow(ctx, `SELECT count(*) = 1, coalesce(bool_or(has_database_privilege('public', oid, 'CONNECT')), false)
		FROM pg_database WHERE datname = $1`, template).Scan(&exists, &open)
	if err != nil {
		return fmt.Errorf("look up template %s: %w", template, err)
	}
	if !exists {
		return fmt.Errorf("template database %s does not exist", template)
	}
	if open {
		return fmt.Errorf("template %s: %w (run REVOKE CONNECT ON DATABASE %s FROM PUBLIC and grant CONNECT to the roles that need it)",
			template, ErrTemplateOpen, pgx.Identifier{template}.Sanitize())
	}
	var ended int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, template).Scan(&ended)
	if err != nil {
		return fmt.Errorf("end sessions on template %s (the admin role needs pg_signal_backend): %w", template, err)
	}
	if ended > 0 {
		p.log.Warn("ended sessions on the template to copy it", zap.String("template", template), zap.Int("sessions", ended))
	}
	return nil
}

// restrict revokes PUBLIC's access to the clone database and, on a template copy, grants
// the role the use of every object in the copied schemas (the admin role must be able to
// grant them: a superuser, or a member of their owner).
func (p *Provisioner) restrict(ctx context.Context, conn *pgx.Conn, name string, src SourceConfig) error {
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "REVOKE ALL ON DATABASE "+ident+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("revoke PUBLIC access to %s: %w", name, err)
	}
	if src.Strategy != provisioner.StrategyFastClone && src.Strategy != strategyGolden {
		return nil
	}
	db, err := p.connect(ctx, name)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	if src.Strategy == strategyGolden {
		return p.takeOwnership(ctx, db, name, src.Template)
	}
	_, err = db.Exec(ctx, `DO $grant$
DECLARE s name;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, current_database());
    EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO %I', s, current_database());
    EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO %I', s, current_database());
  END LOOP;
END $grant$`)
	if err != nil {
		return fmt.Errorf("grant %s the copied objects: %w", name, err)
	}
	return nil
}

// strategyGolden is how Create makes a thin copy of a golden copy (Spec.Golden): a file copy
// of its sealed database, whose objects then pass to the clone's role.
const strategyGolden provisioner.Strategy = "golden"

// takeOwnership gives the clone's role (named as its database) every object of the copy that
// the golden copy's role owned, as a restore would have made it their owner: schemas first
// (a new owner needs CREATE on an object's schema), tables before the sequences they own
// (which follow them). The clone's role never becomes a member of the golden copy's role, and
// REASSIGN OWNED is not used: it would also hand over the golden copy's database itself.
func (p *Provisioner) takeOwnership(ctx context.Context, db *pgx.Conn, name, golden string) error {
	_, err := db.Exec(ctx, `DO $own$
DECLARE
  golden oid := (SELECT oid FROM pg_roles WHERE rolname = `+quoteLiteral(golden)+`);
  here oid := (SELECT oid FROM pg_database WHERE datname = current_database());
  o record;
BEGIN
  FOR o IN SELECT d.classid, d.objid, i.type, i.identity
           FROM pg_shdepend d, LATERAL pg_identify_object(d.classid, d.objid, 0) i
           WHERE d.dbid = here AND d.refclassid = 'pg_authid'::regclass AND d.refobjid = golden
             AND d.deptype = 'o' AND i.type <> 'extension'
           ORDER BY CASE i.type WHEN 'schema' THEN 0 WHEN 'table' THEN 1 WHEN 'sequence' THEN 3 ELSE 2 END LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_shdepend WHERE dbid = here AND classid = o.classid
      AND objid = o.objid AND refobjid = golden AND deptype = 'o');
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE o.type WHEN 'statistics object' THEN 'STATISTICS' WHEN 'composite type' THEN 'TYPE' ELSE upper(o.type) END,
      o.identity, current_database());
  END LOOP;
END $own$`)
	if err != nil {
		return fmt.Errorf("give %s the objects of golden copy %s: %w", name, golden, err)
	}
	return nil
}

// Seal readies golden copy id to be copied: its role can no longer log in, its database
// takes no new connections, and the sessions it had are ended. Implements
// provisioner.GoldenBackend.
func (p *Provisioner) Seal(ctx context.Context, id string) error {
	name := cloneName(id)
	conn, err := p.lock(ctx, name)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	exists, err := p.ownRole(ctx, conn, name, id)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("seal golden copy %s: %w", id, ErrUnknownClone)
	}
	if _, err := p.lockOut(ctx, conn, name); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("seal golden copy %s: %w", id, err)
	}
	if err := p.freeTemplate(ctx, conn, name); err != nil {
		return err
	}
	p.log.Info("golden copy sealed", zap.String("golden", id), zap.String("database", name))
	return nil
}

// CopiesDependOnGolden is false: a thin copy is a file copy, whole once made.
func (p *Provisioner) CopiesDependOnGolden() bool { return false }

var _ provisioner.GoldenBackend = (*Provisioner)(nil)

// storeSecret returns the stored credentials of clone name, storing new ones (with a fresh
// password) when there are none, and the expiry of spec when a retry brings another.
func (p *Provisioner) storeSecret(name string, spec provisioner.Spec) (secret, error) {
	sec, err := p.secrets.read(name)
	if err == nil {
		if !sec.ExpiresAt.Equal(spec.ExpiresAt.UTC()) {
			sec.ExpiresAt = spec.ExpiresAt.UTC()
			return sec, p.secrets.write(name, sec)
		}
		return sec, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return secret{}, err
	}
	pw, err := p.NewPassword()
	if err != nil {
		return secret{}, err
	}
	return p.secrets.create(name, secret{
		Engine:    "postgres",
		Host:      p.cfg.Host,
		Port:      p.cfg.Port,
		Username:  name,
		Password:  pw.Reveal(),
		DBName:    name,
		RequestID: spec.RequestID,
		ExpiresAt: spec.ExpiresAt.UTC(),
	})
}

// enableLogin lets the role log in with password until expiresAt. The server receives the
// SCRAM verifier, never the password.
func (p *Provisioner) enableLogin(ctx context.Context, conn *pgx.Conn, name string, password provisioner.Password, expiresAt time.Time) error {
	verifier, err := scramVerifier(password)
	if err != nil {
		return err
	}
	stmt := "ALTER ROLE " + pgx.Identifier{name}.Sanitize() + " LOGIN PASSWORD " + quoteLiteral(verifier) + " VALID UNTIL " + quoteLiteral(validUntil(expiresAt))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("enable login of role %s: %w", name, err)
	}
	return nil
}

// Extend moves the clone's expiry: the role's VALID UNTIL and the stored expiry. An expiry in
// the past locks the role out at once. Errors: ErrUnknownClone, ErrNameTaken.
func (p *Provisioner) Extend(ctx context.Context, requestID string, expiresAt time.Time) error {
	name := cloneName(requestID)
	sec, err := p.secrets.read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("extend %s: %w", requestID, ErrUnknownClone)
	}
	if err != nil {
		return fmt.Errorf("extend %s: %w", requestID, err)
	}
	conn, err := p.lock(ctx, name)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	exists, err := p.ownRole(ctx, conn, name, requestID)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("extend %s: role %s: %w", requestID, name, ErrUnknownClone)
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" VALID UNTIL "+quoteLiteral(validUntil(expiresAt))); err != nil {
		return fmt.Errorf("extend role %s: %w", name, err)
	}
	sec.ExpiresAt = expiresAt.UTC()
	if err := p.secrets.write(name, sec); err != nil {
		return err
	}
	p.log.Info("clone extended", zap.String("request_id", requestID), zap.Time("valid_until", expiresAt))
	return nil
}

// Revoke ends the clone's access at once, ahead of its destroy: its role may no longer log in
// and every session it has is ended. It returns how many sessions it ended. A clone that is
// gone already is no error.
func (p *Provisioner) Revoke(ctx context.Context, requestID string) (int, error) {
	name := cloneName(requestID)
	conn, err := p.lock(ctx, name)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	roleExists, err := p.ownRole(ctx, conn, name, requestID)
	if err != nil || !roleExists {
		return 0, err
	}
	return p.lockOut(ctx, conn, name)
}

// lockOut takes role name's login away and ends its sessions, wherever they are.
func (p *Provisioner) lockOut(ctx context.Context, conn *pgx.Conn, name string) (int, error) {
	// step 1: no new sessions.
	if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" NOLOGIN"); err != nil {
		return 0, fmt.Errorf("lock role %s: %w", name, err)
	}
	if err := p.after("nologin"); err != nil {
		return 0, err
	}
	// step 2: end the sessions it has.
	var ended int
	if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1", name).Scan(&ended); err != nil {
		return 0, fmt.Errorf("end sessions of role %s: %w", name, err)
	}
	return ended, p.after("sessions")
}

// Destroy locks the role out, ends its sessions, drops the database and the role and deletes
// the secret. Whatever is already gone is skipped; destroying a destroyed clone is success.
// Errors: ErrNameTaken when the name belongs to something clonebot did not make.
func (p *Provisioner) Destroy(ctx context.Context, requestID string) error {
	name := cloneName(requestID)
	ident := pgx.Identifier{name}.Sanitize()
	log := p.log.With(zap.String("request_id", requestID), zap.String("database", name))
	conn, err := p.lock(ctx, name)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	roleExists, err := p.ownRole(ctx, conn, name, requestID)
	if err != nil {
		return err
	}
	owner, err := databaseOwner(ctx, conn, name)
	if err != nil {
		return err
	}
	if owner != "" && owner != name {
		return fmt.Errorf("destroy %s: database %s (owner %s): %w", requestID, name, owner, ErrNameTaken)
	}

	if roleExists {
		// steps 1 and 2: no new sessions, and none left.
		if _, err := p.lockOut(ctx, conn, name); err != nil {
			return err
		}
		log.Info("clone role locked out")
	}
	// step 3: the database, with any session still on it.
	if owner != "" {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		if err := p.after("database"); err != nil {
			return err
		}
	}
	// step 4: the role.
	if roleExists {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident); err != nil {
			return fmt.Errorf("drop role %s: %w", name, err)
		}
		if err := p.after("role"); err != nil {
			return err
		}
	}
	// step 5: the stored credentials.
	if err := p.secrets.remove(name); err != nil {
		return err
	}
	log.Info("clone destroyed")
	return nil
}

// ExposedDatabases lists the databases on the server that every role may connect to, clone
// roles included (PUBLIC holds CONNECT). Clone databases are never among them; for a clone's
// credentials to reach its own database only, this list should be empty. main logs it at start.
func (p *Provisioner) ExposedDatabases(ctx context.Context) ([]string, error) {
	conn, err := p.connect(ctx, "")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database
		WHERE datallowconn AND has_database_privilege('public', oid, 'CONNECT') ORDER BY datname`)
	if err != nil {
		return nil, fmt.Errorf("list databases open to PUBLIC: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list databases open to PUBLIC: %w", err)
	}
	return names, nil
}

// lock opens an admin session holding the server-wide advisory lock of clone name, so that
// Create, Extend and Destroy of one request, from any number of clonebot replicas, run one at
// a time. Closing the session releases the lock.
func (p *Provisioner) lock(ctx context.Context, name string) (*pgx.Conn, error) {
	conn, err := p.connect(ctx, "")
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", "clonebot:"+name); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lock clone %s: %w", name, err)
	}
	return conn, nil
}

func (p *Provisioner) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	cc := p.admin.Copy()
	if database != "" {
		cc.Database = database
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect to %s as the admin role: %w", cc.Database, err)
	}
	return conn, nil
}

func (p *Provisioner) after(step string) error {
	if p.fault == nil {
		return nil
	}
	return p.fault(step)
}

// validUntil formats t for VALID UNTIL, in UTC, to the microsecond PostgreSQL keeps.
func validUntil(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings is on since 9.1).
func quoteLiteral(s string) string {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

func hasCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && slices.Contains(codes, pgErr.Code)
}
