# coding=utf-8
"""Flags of the scripts, defined on one FlagValues and checked when parsed.

Every script defines its flags in a `define_flags(flag_values)` function, so
that tests define them on a FlagValues of their own. `FlagDefiner` binds the
FlagValues once:

    define = script_flags.FlagDefiner(flag_values)
    define.integer("max_seq_length", 128, "Tokens per example.")
    define.at_least_one("max_seq_length")
    define.validator("lip_order", is_permutation, message="...")

Each method is the absl function of the same name (`define.string` is
`flags.DEFINE_string`, `define.validator` is `flags.register_validator`,
`define.multi_validator` is `flags.register_multi_flags_validator`,
`define.required` is `flags.mark_flag_as_required`), with the same
arguments but `flag_values`. A flag belongs to the module that calls the
method, as with absl's own functions: that module's flags are the ones its
--help lists.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

from absl import flags

# The flags defined through this module belong to the module that calls it.
flags.disclaim_key_flags()


def _bound(absl_function):
  def method(self, *args, **kwargs):
    return absl_function(*args, flag_values=self.flag_values, **kwargs)
  method.__doc__ = "%s on the bound FlagValues." % absl_function.__name__
  return method


class FlagDefiner(object):
  """absl's flag definitions and validators on one FlagValues."""

  def __init__(self, flag_values):
    self.flag_values = flag_values

  string = _bound(flags.DEFINE_string)
  integer = _bound(flags.DEFINE_integer)
  float = _bound(flags.DEFINE_float)
  bool = _bound(flags.DEFINE_bool)
  enum = _bound(flags.DEFINE_enum)
  list = _bound(flags.DEFINE_list)
  multi_string = _bound(flags.DEFINE_multi_string)
  validator = _bound(flags.register_validator)
  multi_validator = _bound(flags.register_multi_flags_validator)
  adopt_module_key_flags = _bound(flags.adopt_module_key_flags)

  def required(self, *names):
    """Marks the flags required: parsing fails, naming the flag, without."""
    for name in names:
      flags.mark_flag_as_required(name, flag_values=self.flag_values)

  def at_least_one(self, *names):
    """The check, when flags are parsed, that each flag's value is >= 1."""
    for name in names:
      flags.register_validator(name, lambda value: value >= 1,
                               message="--%s must be at least 1." % name,
                               flag_values=self.flag_values)
