// Command zoomsymbl-ferretdb runs FerretDB 1.24 (MongoDB wire protocol, SQLite backend) for local
// development and tests; with --postgresql-url it uses the PostgreSQL backend instead, which filters
// in the database (the benchmarks compare both). It embeds the github.com/FerretDB/FerretDB/ferretdb package because a plain
// `go install .../cmd/ferretdb` from the module proxy lacks the generated version file and panics.
// It isolates concurrent updates of one collection as MongoDB isolates updates of one document (isolate.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data-dir", "data/ferretdb", "directory for the SQLite databases")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	postgresURL := flag.String("postgresql-url", "", "use the PostgreSQL backend at this URL instead of SQLite")
	serialize := flag.Bool("serialize-writes", true,
		"run the write commands of one collection one at a time (FerretDB does not isolate concurrent updates)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "invalid --log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "cannot create --data-dir %q: %v\n", *dataDir, err)
		os.Exit(1)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	config := ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dataDir + "/",
	}
	if *postgresURL != "" {
		config.Handler, config.SQLiteURL, config.PostgreSQLURL = "postgresql", "", *postgresURL
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	listening := func() {
		logger.Warn("ferretdb listening", "addr", *listen, "data_dir", *dataDir, "serialize_writes", *serialize)
	}
	if !*serialize {
		listening()
		run(ctx, &config, logger, *listen)
		return
	}
	dir, err := os.MkdirTemp("", "zs-ferretdb-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "ferretdb.sock")
	config.Listener = ferretdb.ListenerConfig{Unix: socket}
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, &config, logger, socket)
		stop()
	}()
	if err := awaitSocket(ctx, socket); err != nil {
		fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal(err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	listening()
	if err := proxy(ln, socket, logger); err != nil {
		fatal(err)
	}
	<-done
}

// run serves FerretDB with config until ctx ends; a failure ends the program.
func run(ctx context.Context, config *ferretdb.Config, logger *slog.Logger, addr string) {
	f, err := ferretdb.New(config)
	if err != nil {
		fatal(err)
	}
	logger.Debug("ferretdb serving", "addr", addr)
	if err := f.Run(ctx); err != nil {
		fatal(err)
	}
}

// fatal ends the program with err.
func fatal(err error) {
	fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
	os.Exit(1)
}

// awaitSocket waits until FerretDB accepts on its socket (it opens its databases first).
func awaitSocket(ctx context.Context, socket string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		conn, err := net.DialTimeout("unix", socket, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ferretdb did not open %s: %w", socket, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
