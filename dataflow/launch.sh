#!/usr/bin/env bash
# Builds the worker image and the Flex Template, and launches bertprep on Dataflow.
# See dataflow/README.md for the set-up (APIs, bucket, service account) and sizing.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: dataflow/launch.sh COMMAND [ARGS]   (run from the repository root)

Environment: PROJECT, REGION, BUCKET (without gs://) are required;
  IMAGE        worker/launcher image (default REGION-docker.pkg.dev/PROJECT/bertprep/bertprep:BEAM_VERSION)
  SPACY_MODEL  trained spaCy pipeline to bake into the image (default: none, the sentencizer)
  MACHINE_TYPE (default n2-standard-4), MAX_WORKERS (default 64)

Commands:
  image                      build the image (dataflow/Dockerfile) and push it
  template                   write the Flex Template spec to gs://BUCKET/templates/bertprep.json
  stage STAGE KEY=VALUE...   launch one stage from the template, e.g.
                               stage corpus "input=wikipedia:gs://B/dumps/enwiki-*-multistream*.bz2" output=gs://B/out/corpus
  run [bertprep run flags]   run the whole chain from this machine (three jobs, one after the other) on the image,
                             e.g. run --input "wikipedia:gs://B/dumps/*.bz2" --output gs://B/out
USAGE
}

require() {
  for name in "$@"; do
    if [[ -z "${!name:-}" ]]; then
      echo "launch.sh: set ${name} (see --help)" >&2
      exit 2
    fi
  done
}

beam_version() {
  sed -n 's/^ARG BEAM_VERSION=//p' dataflow/Dockerfile
}

image() {
  echo "${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/bertprep/bertprep:$(beam_version)}"
}

template_path() {
  echo "gs://${BUCKET}/templates/bertprep.json"
}

build_image() {
  docker build -f dataflow/Dockerfile --build-arg "SPACY_MODEL=${SPACY_MODEL:-}" -t "$(image)" .
  docker push "$(image)"
}

write_template() {
  local spec
  spec="$(mktemp)"
  # The spec is the skeleton in flex_template_spec.json with the image and metadata.json filled in.
  python3 - "$(image)" "${spec}" <<'PYTHON'
import json, sys
image, target = sys.argv[1:]
spec = json.load(open("dataflow/flex_template_spec.json"))
spec["image"] = image
spec["metadata"] = json.load(open("dataflow/metadata.json"))
json.dump(spec, open(target, "w"), indent=2)
PYTHON
  gcloud storage cp "${spec}" "$(template_path)"
  rm -f "${spec}"
  echo "wrote $(template_path) for image $(image)"
}

launch_stage() {
  local stage="$1"
  shift
  local parameters="command=${stage}" pair
  for pair in "$@"; do
    parameters+="~${pair}"
  done
  # "^~^" makes ~ the separator, so values may hold commas (--lengths 128:20,512:80) and ';'.
  gcloud dataflow flex-template run "bertprep-${stage}-$(date +%Y%m%d-%H%M%S)" \
    --project "${PROJECT}" --region "${REGION}" \
    --template-file-gcs-location "$(template_path)" \
    --temp-location "gs://${BUCKET}/tmp" --staging-location "gs://${BUCKET}/staging" \
    --worker-machine-type "${MACHINE_TYPE:-n2-standard-4}" --max-workers "${MAX_WORKERS:-64}" \
    --additional-experiments "use_runner_v2" \
    --parameters "^~^${parameters}~sdk_container_image=$(image)"
}

run_chain() {
  bertprep run "$@" \
    --runner DataflowRunner --project "${PROJECT}" --region "${REGION}" \
    --temp_location "gs://${BUCKET}/tmp" --staging_location "gs://${BUCKET}/staging" \
    --sdk_container_image "$(image)" --experiments use_runner_v2 \
    --machine_type "${MACHINE_TYPE:-n2-standard-4}" --max_num_workers "${MAX_WORKERS:-64}"
}

main() {
  local command="${1:-}"
  if [[ -z "${command}" || "${command}" == "-h" || "${command}" == "--help" ]]; then
    usage
    exit 0
  fi
  shift
  require PROJECT REGION BUCKET
  case "${command}" in
    image) build_image ;;
    template) write_template ;;
    stage)
      if [[ $# -lt 1 ]]; then usage >&2; exit 2; fi
      launch_stage "$@"
      ;;
    run) run_chain "$@" ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
