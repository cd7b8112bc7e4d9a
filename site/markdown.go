package site

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
)

// md renders the content pages: GitHub-flavoured Markdown (tables, task
// lists, strikethrough, autolinks), headings with ids; raw HTML in the
// source is left out, so a page cannot bring scripts.
var md = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithParserOptions(parser.WithAutoHeadingID()),
)

func markdown(src []byte) (template.HTML, error) {
	var b bytes.Buffer
	if err := md.Convert(src, &b); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}
