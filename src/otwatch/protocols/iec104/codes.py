"""The one table of IEC 60870-5-104 codes: APCI formats, U functions, ASDU type ids and causes."""

from __future__ import annotations

from enum import IntEnum, StrEnum

IEC104_PORT = 2404
START = 0x68
MAX_APDU_LENGTH = 253  # the length octet counts the 4 control octets and the ASDU


class ApciType(StrEnum):
    I = "I"  # numbered information transfer  # noqa: E741
    S = "S"  # numbered supervisory (acknowledgement only)
    U = "U"  # unnumbered control


class UFunction(IntEnum):
    """First control octet of a U-format APCI."""

    STARTDT_ACT = 0x07
    STARTDT_CON = 0x0B
    STOPDT_ACT = 0x13
    STOPDT_CON = 0x23
    TESTFR_ACT = 0x43
    TESTFR_CON = 0x83


class TypeId(IntEnum):
    M_SP_NA_1 = 1
    M_SP_TA_1 = 2
    M_DP_NA_1 = 3
    M_DP_TA_1 = 4
    M_ST_NA_1 = 5
    M_ST_TA_1 = 6
    M_BO_NA_1 = 7
    M_BO_TA_1 = 8
    M_ME_NA_1 = 9
    M_ME_TA_1 = 10
    M_ME_NB_1 = 11
    M_ME_TB_1 = 12
    M_ME_NC_1 = 13
    M_ME_TC_1 = 14
    M_IT_NA_1 = 15
    M_IT_TA_1 = 16
    M_EP_TA_1 = 17
    M_EP_TB_1 = 18
    M_EP_TC_1 = 19
    M_PS_NA_1 = 20
    M_ME_ND_1 = 21
    M_SP_TB_1 = 30
    M_DP_TB_1 = 31
    M_ST_TB_1 = 32
    M_BO_TB_1 = 33
    M_ME_TD_1 = 34
    M_ME_TE_1 = 35
    M_ME_TF_1 = 36
    M_IT_TB_1 = 37
    M_EP_TD_1 = 38
    M_EP_TE_1 = 39
    M_EP_TF_1 = 40
    C_SC_NA_1 = 45
    C_DC_NA_1 = 46
    C_RC_NA_1 = 47
    C_SE_NA_1 = 48
    C_SE_NB_1 = 49
    C_SE_NC_1 = 50
    C_BO_NA_1 = 51
    C_SC_TA_1 = 58
    C_DC_TA_1 = 59
    C_RC_TA_1 = 60
    C_SE_TA_1 = 61
    C_SE_TB_1 = 62
    C_SE_TC_1 = 63
    C_BO_TA_1 = 64
    M_EI_NA_1 = 70
    C_IC_NA_1 = 100
    C_CI_NA_1 = 101
    C_RD_NA_1 = 102
    C_CS_NA_1 = 103
    C_TS_NA_1 = 104
    C_RP_NA_1 = 105
    C_CD_NA_1 = 106
    C_TS_TA_1 = 107
    P_ME_NA_1 = 110
    P_ME_NB_1 = 111
    P_ME_NC_1 = 112
    P_AC_NA_1 = 113
    F_FR_NA_1 = 120
    F_SR_NA_1 = 121
    F_SC_NA_1 = 122
    F_LS_NA_1 = 123
    F_AF_NA_1 = 124
    F_SG_NA_1 = 125
    F_DR_TA_1 = 126
    F_SC_NB_1 = 127


# Process commands in control direction (single/double/regulating step/set point/bitstring).
COMMAND_TYPE_IDS = range(45, 70)


class Cause(IntEnum):
    PER_CYC = 1
    BACK = 2
    SPONT = 3
    INIT = 4
    REQ = 5
    ACT = 6
    ACTCON = 7
    DEACT = 8
    DEACTCON = 9
    ACTTERM = 10
    RETREM = 11
    RETLOC = 12
    FILE = 13
    INROGEN = 20
    INRO1 = 21
    INRO2 = 22
    INRO3 = 23
    INRO4 = 24
    INRO5 = 25
    INRO6 = 26
    INRO7 = 27
    INRO8 = 28
    INRO9 = 29
    INRO10 = 30
    INRO11 = 31
    INRO12 = 32
    INRO13 = 33
    INRO14 = 34
    INRO15 = 35
    INRO16 = 36
    REQCOGEN = 37
    REQCO1 = 38
    REQCO2 = 39
    REQCO3 = 40
    REQCO4 = 41
    UNKNOWN_TYPE = 44
    UNKNOWN_CAUSE = 45
    UNKNOWN_ASDU_ADDRESS = 46
    UNKNOWN_OBJECT_ADDRESS = 47


def _name(table: type[IntEnum], value: int) -> str:
    try:
        return table(value).name
    except ValueError:
        return f"unknown-{value}"


def type_name(type_id: int) -> str:
    return _name(TypeId, type_id)


def cause_name(cause: int) -> str:
    return _name(Cause, cause)


def u_function_name(control: int) -> str:
    return _name(UFunction, control)
