package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/store"
)

func init() { rootCmd.AddCommand(newIntentCmd()) }

// storeKeys are the settings that say where the intent's store is.
var storeKeys = []string{"store", "store_prefix", "store_ca", "store_cert", "store_key"}

// storeTimeout bounds one intent command's conversation with etcd.
const storeTimeout = 30 * time.Second

// openStore connects to the store the settings name; writer says who
// writes, for the _revision key.
func openStore(st settings, writer string) (*store.Store, error) {
	if st.Store == "" {
		return nil, fmt.Errorf("no store: give --store etcd://HOST:2379 (or store in the config file, or FLOWGATE_STORE)")
	}
	return store.Open(store.Config{URL: st.Store, Prefix: st.StorePrefix,
		CA: st.StoreCA, Cert: st.StoreCert, Key: st.StoreKey, Writer: writer})
}

// writer names this command's user and host.
func writer(what string) string {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s by %s on %s", what, name, host)
}

func newIntentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "intent",
		Short: "Read and write the intent in etcd (put, get, edit)",
		Long: `The intent in etcd (the store setting): one key per network, port,
security group, router and service under store_prefix. Every write
validates the whole document first (a bad document is refused with its
problems, one "path: reason" per line, and nothing is written) and is one
etcd transaction that commits only if the intent did not change since the
revision the writer read, so that two operators cannot silently overwrite
each other.`,
	}
	cmd.AddCommand(newIntentPutCmd(), newIntentGetCmd(), newIntentEditCmd())
	return cmd
}

func newIntentPutCmd() *cobra.Command {
	var revision int64
	var force bool
	cmd := &cobra.Command{
		Use:   "put FILE",
		Short: "Store a document (YAML or JSON; - for stdin) as the intent",
		Long: `put validates FILE whole and stores it as the intent, replacing what is
stored: objects no longer in it are deleted, unchanged ones are not
rewritten. --revision N stores it only if the intent is still at revision
N (as flowgate intent get printed it); without --revision it is stored
only if no intent is stored yet; --force replaces whatever is stored.
Prints the new revision. Exit status 1, with nothing written, on a bad
document or a conflict.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			data, err := readDocument(cmd, args[0])
			if err != nil {
				return err
			}
			doc, err := validDocument(data)
			if err != nil {
				return fmt.Errorf("%s refused, nothing written:\n%w", args[0], err)
			}
			s, err := openStore(st, writer("flowgate intent put"))
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), storeTimeout)
			defer cancel()
			expect := revision
			if force {
				expect = store.Any
			}
			rev, err := s.Put(ctx, doc, expect)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s revision %d\n", s, rev)
			return nil
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "store only if the intent is at this revision (0: only if none is stored)")
	cmd.Flags().BoolVar(&force, "force", false, "replace whatever is stored (no revision check)")
	cmd.MarkFlagsMutuallyExclusive("revision", "force")
	addSettingsFlags(cmd, storeKeys...)
	return cmd
}

func newIntentGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Print the intent stored in etcd; its revision goes to stderr",
		Long: `get prints the intent as stored, assembled from its keys into one YAML
document (each list sorted by name), and writes "etcd://HOSTS/PREFIX
revision N" to stderr: the revision to give flowgate intent put --revision.
A stored document that does not validate (keys written by hand) is still
printed, its problems go to stderr, and the exit status is 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			s, err := openStore(st, "")
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), storeTimeout)
			defer cancel()
			snap, err := s.Read(ctx)
			if err != nil {
				return err
			}
			if snap.Err != nil {
				return fmt.Errorf("%s revision %d:\n%w", s, snap.Revision, snap.Err)
			}
			text, err := snap.YAML()
			if err != nil {
				return fmt.Errorf("%s revision %d: %w", s, snap.Revision, err)
			}
			cmd.OutOrStdout().Write(text)
			fmt.Fprintf(cmd.ErrOrStderr(), "%s revision %d\n", s, snap.Revision)
			if _, err := snap.Intent(); err != nil {
				return fmt.Errorf("the stored intent does not validate (controllers refuse it):\n%w", err)
			}
			return nil
		},
	}
	addSettingsFlags(cmd, storeKeys...)
	return cmd
}

func newIntentEditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edit",
		Short: "Edit the intent in etcd with $EDITOR and store it if nobody changed it meanwhile",
		Long: `edit reads the intent and its revision, opens it in $VISUAL or $EDITOR
(default vi), validates the result whole and stores it only if the intent
is still at the revision read. Nothing is written when the file comes back
unchanged or empty, when it does not validate, or on a conflict; in the
last two cases the edit is kept in a temporary file whose name is printed.
With nothing stored yet it starts from an empty document.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			s, err := openStore(st, writer("flowgate intent edit"))
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), storeTimeout)
			snap, err := s.Read(ctx)
			cancel()
			if err != nil {
				return err
			}
			var body []byte
			switch {
			case errors.Is(snap.Err, store.ErrNoIntent):
				body = []byte("{}\n")
			case snap.Err != nil:
				return fmt.Errorf("%s revision %d does not assemble into a document; fix these keys with etcdctl first:\n%w", s, snap.Revision, snap.Err)
			default:
				if body, err = snap.YAML(); err != nil {
					return fmt.Errorf("%s revision %d: %w", s, snap.Revision, err)
				}
			}
			text := append([]byte(fmt.Sprintf("# %s revision %d: save to store it when nobody changed it\n# meanwhile; an unchanged or empty file stores nothing.\n", s, snap.Revision)), body...)
			f, err := os.CreateTemp("", "flowgate-intent-*.yaml")
			if err != nil {
				return err
			}
			path := f.Name()
			_, err = f.Write(text)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(path)
				return err
			}
			if err := runEditor(cmd, path); err != nil {
				return fmt.Errorf("editor: %w (your edit is in %s)", err, path)
			}
			edited, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Equal(edited, text) || len(bytes.TrimSpace(edited)) == 0 {
				os.Remove(path)
				fmt.Fprintln(cmd.ErrOrStderr(), "no change; nothing written")
				return nil
			}
			doc, err := validDocument(edited)
			if err != nil {
				return fmt.Errorf("edit refused, nothing written (your edit is in %s):\n%w", path, err)
			}
			ctx, cancel = context.WithTimeout(cmd.Context(), storeTimeout)
			defer cancel()
			rev, err := s.Put(ctx, doc, snap.Revision)
			if err != nil {
				return fmt.Errorf("%w (your edit is in %s)", err, path)
			}
			os.Remove(path)
			fmt.Fprintf(cmd.OutOrStdout(), "%s revision %d\n", s, rev)
			return nil
		},
	}
	addSettingsFlags(cmd, storeKeys...)
	return cmd
}

// runEditor opens path in $VISUAL, $EDITOR or vi, through the shell so
// that an editor with arguments ("code -w") works.
func runEditor(cmd *cobra.Command, path string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	c := exec.CommandContext(cmd.Context(), "/bin/sh", "-c", editor+` "$1"`, "sh", path)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return c.Run()
}

// readDocument reads FILE, or stdin for "-".
func readDocument(cmd *cobra.Command, name string) ([]byte, error) {
	if name != "-" {
		return intent.ReadFile(name)
	}
	data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), intent.MaxDocumentBytes+1))
	if err == nil && len(data) > intent.MaxDocumentBytes {
		err = fmt.Errorf("stdin: larger than %d bytes, the limit for an intent document", intent.MaxDocumentBytes)
	}
	return data, err
}

// validDocument decodes and validates data, reporting every problem.
func validDocument(data []byte) (*intent.Document, error) {
	if _, err := intent.Parse(data); err != nil {
		return nil, err
	}
	return intent.Decode(data)
}
