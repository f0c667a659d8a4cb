// The cluster test's stand-in for Headlamp's server (headlamp-server): Headlamp's backend module is not
// served by the Go module proxy this test builds from (it answers 403), so its image cannot be built here.
// It answers every request on Headlamp's port with 200 and a page that says what it is, takes (and ignores)
// the flags the project's Deployment passes to the real server, and nothing else: what the test proves
// with it is the project's part (the Deployment, its probes, the Service, the route through the ingress
// controller, the login account), not Headlamp's.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	flags := flag.NewFlagSet("headlamp-server", flag.ContinueOnError)
	port := flags.Int("port", 4466, "the port to listen on, as Headlamp's")
	flags.Bool("in-cluster", false, "")
	flags.String("in-cluster-context-name", "", "")
	flags.String("plugins-dir", "", "")
	flags.Int("session-ttl", 0, "")
	flags.String("html-static-dir", "", "")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>Headlamp (the cluster test's stand-in)</title><p>Headlamp stand-in: the cluster test's, not Headlamp.</p>\n")
	})
	log.Printf("headlamp stand-in listening on :%d", *port)
	log.Fatal(http.ListenAndServe(fmt.Sprintf(":%d", *port), nil))
}
