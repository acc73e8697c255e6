"""Programming language of a file from its name, for the `language` property.

Names and extensions are enough for search filters and discovery statistics, and
need no file content, so discovery can count languages from `git ls-tree` alone.
Language names follow GitHub Linguist's spelling so they look familiar.
"""

from __future__ import annotations

from pathlib import PurePosixPath

_EXTENSIONS: dict[str, str] = {
    # Python
    "py": "Python",
    "pyi": "Python",
    "pyw": "Python",
    "pyx": "Cython",
    "ipynb": "Jupyter Notebook",
    # JavaScript / TypeScript
    "js": "JavaScript",
    "mjs": "JavaScript",
    "cjs": "JavaScript",
    "jsx": "JavaScript",
    "ts": "TypeScript",
    "mts": "TypeScript",
    "cts": "TypeScript",
    "tsx": "TypeScript",
    "vue": "Vue",
    "svelte": "Svelte",
    # Systems
    "go": "Go",
    "rs": "Rust",
    "c": "C",
    "h": "C",
    "cc": "C++",
    "cpp": "C++",
    "cxx": "C++",
    "c++": "C++",
    "hh": "C++",
    "hpp": "C++",
    "hxx": "C++",
    "cs": "C#",
    "csx": "C#",
    "fs": "F#",
    "fsx": "F#",
    "zig": "Zig",
    "nim": "Nim",
    "m": "Objective-C",
    "mm": "Objective-C++",
    "swift": "Swift",
    "d": "D",
    # JVM
    "java": "Java",
    "kt": "Kotlin",
    "kts": "Kotlin",
    "scala": "Scala",
    "sc": "Scala",
    "groovy": "Groovy",
    "gradle": "Groovy",
    "clj": "Clojure",
    "cljs": "Clojure",
    # Scripting
    "rb": "Ruby",
    "rake": "Ruby",
    "gemspec": "Ruby",
    "php": "PHP",
    "pl": "Perl",
    "pm": "Perl",
    "lua": "Lua",
    "r": "R",
    "jl": "Julia",
    "ex": "Elixir",
    "exs": "Elixir",
    "erl": "Erlang",
    "hrl": "Erlang",
    "hs": "Haskell",
    "ml": "OCaml",
    "mli": "OCaml",
    "dart": "Dart",
    "sh": "Shell",
    "bash": "Shell",
    "zsh": "Shell",
    "fish": "Shell",
    "ps1": "PowerShell",
    "psm1": "PowerShell",
    "bat": "Batchfile",
    "cmd": "Batchfile",
    # Data, config, docs
    "md": "Markdown",
    "markdown": "Markdown",
    "mdx": "MDX",
    "rst": "reStructuredText",
    "adoc": "AsciiDoc",
    "txt": "Text",
    "yaml": "YAML",
    "yml": "YAML",
    "json": "JSON",
    "jsonc": "JSON",
    "json5": "JSON5",
    "toml": "TOML",
    "ini": "INI",
    "cfg": "INI",
    "xml": "XML",
    "xsd": "XML",
    "csv": "CSV",
    "proto": "Protocol Buffer",
    "graphql": "GraphQL",
    "gql": "GraphQL",
    "tf": "HCL",
    "hcl": "HCL",
    "nix": "Nix",
    # Web
    "html": "HTML",
    "htm": "HTML",
    "css": "CSS",
    "scss": "SCSS",
    "sass": "Sass",
    "less": "Less",
    # Query
    "sql": "SQL",
    # Build
    "cmake": "CMake",
    "mk": "Makefile",
    "dockerfile": "Dockerfile",
}

_FILENAMES: dict[str, str] = {
    "dockerfile": "Dockerfile",
    "containerfile": "Dockerfile",
    "makefile": "Makefile",
    "gnumakefile": "Makefile",
    "cmakelists.txt": "CMake",
    "gemfile": "Ruby",
    "rakefile": "Ruby",
    "podfile": "Ruby",
    "vagrantfile": "Ruby",
    "jenkinsfile": "Groovy",
    "build.gradle": "Groovy",
    "pipfile": "TOML",
    "requirements.txt": "Pip Requirements",
    "cargo.lock": "TOML",
    "go.mod": "Go Module",
    "go.sum": "Go Checksums",
    ".bashrc": "Shell",
    ".zshrc": "Shell",
    ".profile": "Shell",
    ".gitignore": "Ignore List",
    ".dockerignore": "Ignore List",
    ".editorconfig": "EditorConfig",
}


def detect_language(path: str) -> str | None:
    """Language name for a repository path, or None when the name says nothing."""
    tail = path.rpartition("/")[2]
    # The last component as it stands is the name unless pathlib would normalize it.
    name = tail if tail not in ("", ".") else PurePosixPath(path).name
    lower = name.lower()
    if lower in _FILENAMES:
        return _FILENAMES[lower]
    if lower.startswith("dockerfile.") or lower.endswith(".dockerfile"):
        return "Dockerfile"
    if lower.startswith("makefile."):
        return "Makefile"
    if "." not in lower.lstrip("."):
        return None
    extension = lower.rsplit(".", 1)[1]
    return _EXTENSIONS.get(extension)
