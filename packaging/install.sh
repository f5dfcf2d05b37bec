#!/usr/bin/env bash
# Install Model Conversion Studio for this user (into ~/.local) or under --prefix DIR.
#
#   ./install.sh [--prefix DIR] [--app DIR]
#
# Run it from the unpacked app folder (the .tar.gz holds it beside the executable) or from a checkout after
# scripts/package (it then installs dist/ModelConversionStudio). It installs:
#   PREFIX/lib/model-conversion-studio/                        the app folder
#   PREFIX/bin/model-conversion-studio                         a symlink to the executable (the launcher)
#   PREFIX/share/applications/model-conversion-studio.desktop  menu entry, opens .onnx .tflite .pt2 .keras
#   PREFIX/share/icons/hicolor/{N}x{N}/apps/, scalable/apps/   the icon
#   PREFIX/share/mime/packages/model-conversion-studio.xml     the MIME types of those model files
# and refreshes the MIME, desktop and icon caches when their tools exist. Every path it created is listed in
# PREFIX/lib/model-conversion-studio.manifest; uninstall.sh removes exactly those paths.
set -euo pipefail

NAME=model-conversion-studio
APP=ModelConversionStudio
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${HOME}/.local"
app_src=""

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --app) [ $# -ge 2 ] || { echo "install.sh: --app needs a folder" >&2; exit 2; }; app_src="$2"; shift 2 ;;
        --app=*) app_src="${1#--app=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

# Find the app folder: given, the folder this script sits in, or a checkout's dist/.
if [ -z "$app_src" ]; then
    for candidate in "$here" "$here/../dist/$APP"; do
        if [ -x "$candidate/$APP" ]; then app_src="$candidate"; break; fi
    done
fi
if [ -z "$app_src" ] || [ ! -x "$app_src/$APP" ]; then
    echo "install.sh: no $APP app folder found (build it with scripts/package, or pass --app DIR)" >&2
    exit 2
fi
app_src="$(cd "$app_src" && pwd)"
# Desktop files (icons, .desktop, MIME XML): bundled under _internal/resources, or a checkout's resources/.
res=""
for candidate in "$app_src/_internal/resources" "$here/../resources"; do
    if [ -f "$candidate/$NAME.desktop" ]; then res="$(cd "$candidate" && pwd)"; break; fi
done
[ -n "$res" ] || { echo "install.sh: the desktop files ($NAME.desktop, icons, MIME XML) are missing" >&2; exit 2; }

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
lib_dir="$prefix/lib/$NAME"
manifest="$prefix/lib/$NAME.manifest"
bin_link="$prefix/bin/$NAME"
desktop="$prefix/share/applications/$NAME.desktop"
mime_xml="$prefix/share/mime/packages/$NAME.xml"

if [ "$app_src" = "$lib_dir" ]; then
    echo "install.sh: $APP is already installed in $prefix (this is that copy)" >&2
    exit 1
fi
if [ -f "$manifest" ]; then
    echo "install.sh: replacing the installation recorded in $manifest" >&2
    bash "$here/uninstall.sh" --prefix "$prefix" --quiet
fi
for path in "$lib_dir" "$bin_link" "$desktop" "$mime_xml"; do
    if [ -e "$path" ] || [ -L "$path" ]; then
        echo "install.sh: $path exists and is not ours (no manifest lists it); remove it first" >&2
        exit 1
    fi
done

installed=()     # every path we create, files and the folders we had to make, in creation order
new_dirs() {     # mkdir -p, recording each folder that did not exist yet
    local dir="$1" missing=()
    while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir="$(dirname "$dir")"; done
    for dir in "${missing[@]}"; do mkdir "$dir"; installed+=("$dir/"); done
}
put() {          # put SRC DEST [MODE]
    new_dirs "$(dirname "$2")"
    install -m "${3:-644}" "$1" "$2"
    installed+=("$2")
}
write_manifest() {
    new_dirs "$(dirname "$manifest")"
    { echo "# $NAME install manifest: uninstall.sh removes exactly these paths (folders end in /)"
      echo "# prefix: $prefix"
      printf '%s\n' "${installed[@]}"; } > "$manifest.part"
    mv "$manifest.part" "$manifest"
}
trap 'write_manifest; echo "install.sh: failed; what was installed is in $manifest (uninstall.sh removes it)" >&2' ERR

echo "Installing $APP into $prefix ..." >&2
# The app folder: copied whole; each of its folders, files and symlinks goes into the manifest.
new_dirs "$(dirname "$lib_dir")"
cp -a "$app_src" "$lib_dir"
installed+=("$lib_dir/")
while IFS= read -r -d '' path; do
    if [ -d "$path" ] && [ ! -L "$path" ]; then installed+=("$path/"); else installed+=("$path"); fi
done < <(cd "$lib_dir" && find "$lib_dir" -mindepth 1 -print0 | sort -z)

new_dirs "$(dirname "$bin_link")"
ln -s "$lib_dir/$APP" "$bin_link"
installed+=("$bin_link")

# The .desktop entry runs the launcher by its absolute path: ~/.local/bin is not always on a session's PATH.
new_dirs "$(dirname "$desktop")"
sed -e "s|^Exec=.*|Exec=\"$bin_link\" %f|" -e "s|^TryExec=.*|TryExec=$bin_link|" "$res/$NAME.desktop" > "$desktop"
chmod 644 "$desktop"
installed+=("$desktop")

for png in "$res"/icons/"$NAME"-*.png; do
    size="${png##*-}"; size="${size%.png}"
    put "$png" "$prefix/share/icons/hicolor/${size}x${size}/apps/$NAME.png"
done
put "$res/icons/$NAME.svg" "$prefix/share/icons/hicolor/scalable/apps/$NAME.svg"
put "$res/mime/$NAME.xml" "$mime_xml"
write_manifest
trap - ERR

# Refresh the caches; missing tools are fine (the desktop refreshes on its own at next login).
refresh() { if command -v "$1" >/dev/null 2>&1; then "$@" >/dev/null 2>&1 || echo "install.sh: $1 failed (ignored)" >&2; fi; }
refresh update-mime-database "$prefix/share/mime"
refresh update-desktop-database "$prefix/share/applications"
[ -f "$prefix/share/icons/hicolor/index.theme" ] && refresh gtk-update-icon-cache -q -t -f "$prefix/share/icons/hicolor"

echo "Installed. Run: $bin_link   (or find \"Model Conversion Studio\" in the applications menu)"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "Note: $prefix/bin is not on your PATH." ;; esac
echo "Uninstall: $lib_dir/uninstall.sh --prefix $prefix"
