package controller

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce lets an editor finish writing (truncate, write, rename)
// before the file is read: one reload per save, not one per event.
const reloadDebounce = 200 * time.Millisecond

// watchIntentFile posts to reloads when the intent file may have changed.
// It watches the directory, not the file: editors and config management
// replace files by renaming, and Kubernetes swaps a symlink, which a watch
// on the file itself would not survive.
func watchIntentFile(ctx context.Context, wg *sync.WaitGroup, path string, reloads chan<- string, log *slog.Logger) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch intent %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watch intent directory %s: %w", dir, err)
	}
	// A symlinked file is also changed where its target lives (an edit
	// of the target, a PUT written through the link): watch that
	// directory too, following the link as it is re-pointed.
	followTarget := func() {
		if target, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(target) != dir {
			w.Add(filepath.Dir(target)) // a directory watched already is not added twice
		}
	}
	followTarget()
	wg.Go(func() {
		defer w.Close()
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				// Any change in the directory may be the file: a symlink
				// swap names the link's target directory, not the file.
				if ev.Has(fsnotify.Chmod) && filepath.Clean(ev.Name) != filepath.Clean(path) {
					continue
				}
				followTarget()
				fire = time.After(reloadDebounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Error("watching the intent file", "error", err)
			case <-fire:
				fire = nil
				select {
				case reloads <- "intent file":
				default: // a reload is already queued; it reads the newest file
				}
			}
		}
	})
	return nil
}
