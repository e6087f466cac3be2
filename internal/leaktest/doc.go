// Package leaktest holds the module's leak test: canary values set through
// every public path, with success and failure, while everything the library
// could print, log or return is captured and searched for them. It has no
// code of its own; see leak_test.go.
package leaktest
