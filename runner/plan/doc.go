// Package plan decides what a run builds: from the APKBUILD tree evaluated
// per arch and the published (and upstream) APKINDEX of each arch, it works
// out per aport and arch whether it is new, outdated, missing a subpackage,
// up to date, excluded or invalid; resolves build dependencies; finds
// dependency cycles; holds back aports that failed recently; and cuts what
// is left into batches, each depending only on earlier batches.
//
// It is pure: no I/O, no clock (the time comes in as Input.Now), no
// randomness. The same Input gives the same Plan, byte for byte once
// marshalled. Every aport it will not build is accounted for: blocked with
// a reason, held after failures, not selected, up to date, excluded or
// invalid.
package plan
