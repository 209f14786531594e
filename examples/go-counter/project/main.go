// Command counter serves the counters API on a unix socket: counter /path/to/app.sock
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"example.com/counter/counters"
)

type server struct {
	store *counters.Store
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func fail(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// ServeHTTP routes GET /health, GET /counters, GET /counters/{name} and POST /counters/{name}/increment.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	switch {
	case path == "health" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case path == "counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"counters": s.store.List()})
	case len(parts) == 2 && parts[0] == "counters" && r.Method == http.MethodGet:
		counter, err := s.store.Get(parts[1])
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, counter)
	case len(parts) == 3 && parts[0] == "counters" && parts[2] == "increment" && r.Method == http.MethodPost:
		s.increment(w, r, parts[1])
	default:
		fail(w, http.StatusNotFound, fmt.Errorf("no route for %s /%s", r.Method, path))
	}
}

func (s *server) increment(w http.ResponseWriter, r *http.Request, name string) {
	body := struct {
		By *int `json:"by"`
	}{}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, errors.New("the body should be {\"by\": <whole number>}"))
			return
		}
	}
	by := 1
	if body.By != nil {
		by = *body.By
	}
	counter, err := s.store.Increment(name, by)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, counter)
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: counter /path/to/app.sock")
	}
	listener, err := net.Listen("unix", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(listener, &server{store: counters.NewStore()}))
}
