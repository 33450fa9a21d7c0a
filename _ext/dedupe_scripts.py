"""Drop duplicate <script> entries from every page.

sphinx-thebe and sphinx-togglebutton (loaded by Jupyter Book 1) register their
inline configuration twice, once with ``filename=None`` and once with ``''``;
the second ``const THEBE_JS_URL = ...`` is a SyntaxError ("Identifier
'THEBE_JS_URL' has already been declared") on every page. This keeps the first
copy of each script, identified by its file name and its body.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        key = (
            str(getattr(js, "filename", js) or ""),
            getattr(js, "attributes", {}).get("body", ""),
        )
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
