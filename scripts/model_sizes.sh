# Sourced by the run_pretrain_*.sh scripts: the paper's batch per model size
# (Table 2). Sets BATCH_FOR_SIZE or exits with an error.
set_batch_for_size() {
  case "$1" in
    tiny)  BATCH_FOR_SIZE=32 ;;
    small) BATCH_FOR_SIZE=1024 ;;
    base)  BATCH_FOR_SIZE=416 ;;
    large) BATCH_FOR_SIZE=256 ;;
    *) echo "SIZE must be tiny, small, base or large, not '$1'." >&2; exit 1 ;;
  esac
}
