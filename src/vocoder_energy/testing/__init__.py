"""Tools for the tests of a family from another package: ``check_vocoder`` checks the contract."""

from vocoder_energy.testing.contract import RULES, ContractError, check_vocoder

__all__ = ["RULES", "ContractError", "check_vocoder"]
