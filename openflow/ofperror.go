package openflow

import (
	"encoding/binary"
	"fmt"
)

// SwitchError is an OFPT_ERROR message from the switch: the OpenFlow
// error type and code (or, for type 0xffff, the experimenter's), named the
// way OVS names them in its logs and in ovs-ofctl output.
type SwitchError struct {
	Type         uint16
	Code         uint16
	Experimenter uint32 // set when Type is OFPET_EXPERIMENTER
}

func (e *SwitchError) Error() string { return e.Name() }

// Name is e.g. "OFPBAC_BAD_OUT_GROUP" or, for codes without a name here,
// "OFPET_BAD_ACTION(2)/code 9".
func (e *SwitchError) Name() string {
	if e.Type == ofpetExperimenter {
		if n, ok := onfErrorNames[e.Code]; ok && e.Experimenter == onfExperimenterID {
			return n
		}
		return fmt.Sprintf("experimenter %#x error %d", e.Experimenter, e.Code)
	}
	if n, ok := errorCodeNames[[2]uint16{e.Type, e.Code}]; ok {
		return n
	}
	typ := fmt.Sprintf("type %d", e.Type)
	if int(e.Type) < len(errorTypeNames) {
		typ = errorTypeNames[e.Type]
	}
	return fmt.Sprintf("%s(%d)/code %d", typ, e.Type, e.Code)
}

const ofpetExperimenter uint16 = 0xffff

// parseSwitchError decodes the body of an OFPT_ERROR (after the header).
func parseSwitchError(body []byte) (*SwitchError, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("error message: %d bytes, need 4", len(body))
	}
	e := &SwitchError{Type: binary.BigEndian.Uint16(body), Code: binary.BigEndian.Uint16(body[2:])}
	if e.Type == ofpetExperimenter {
		if len(body) < 8 {
			return nil, fmt.Errorf("experimenter error message: %d bytes, need 8", len(body))
		}
		e.Experimenter = binary.BigEndian.Uint32(body[4:])
	}
	return e, nil
}

var errorTypeNames = []string{
	"OFPET_HELLO_FAILED", "OFPET_BAD_REQUEST", "OFPET_BAD_ACTION", "OFPET_BAD_INSTRUCTION",
	"OFPET_BAD_MATCH", "OFPET_FLOW_MOD_FAILED", "OFPET_GROUP_MOD_FAILED", "OFPET_PORT_MOD_FAILED",
	"OFPET_TABLE_MOD_FAILED", "OFPET_QUEUE_OP_FAILED", "OFPET_SWITCH_CONFIG_FAILED",
	"OFPET_ROLE_REQUEST_FAILED", "OFPET_METER_MOD_FAILED", "OFPET_TABLE_FEATURES_FAILED",
}

// errorCodeNames covers the errors a flow-mod or group-mod can provoke
// (OpenFlow 1.3.5 section 7.4.4); anything else is printed by number.
var errorCodeNames = map[[2]uint16]string{
	{1, 0}: "OFPBRC_BAD_VERSION", {1, 1}: "OFPBRC_BAD_TYPE", {1, 2}: "OFPBRC_BAD_MULTIPART",
	{1, 3}: "OFPBRC_BAD_EXPERIMENTER", {1, 4}: "OFPBRC_BAD_EXP_TYPE", {1, 5}: "OFPBRC_EPERM",
	{1, 6}: "OFPBRC_BAD_LEN", {1, 9}: "OFPBRC_BAD_TABLE_ID", {1, 11}: "OFPBRC_BAD_PORT",
	{2, 0}: "OFPBAC_BAD_TYPE", {2, 1}: "OFPBAC_BAD_LEN", {2, 2}: "OFPBAC_BAD_EXPERIMENTER",
	{2, 3}: "OFPBAC_BAD_EXP_TYPE", {2, 4}: "OFPBAC_BAD_OUT_PORT", {2, 5}: "OFPBAC_BAD_ARGUMENT",
	{2, 6}: "OFPBAC_EPERM", {2, 7}: "OFPBAC_TOO_MANY", {2, 8}: "OFPBAC_BAD_QUEUE",
	{2, 9}: "OFPBAC_BAD_OUT_GROUP", {2, 10}: "OFPBAC_MATCH_INCONSISTENT",
	{2, 11}: "OFPBAC_UNSUPPORTED_ORDER", {2, 12}: "OFPBAC_BAD_TAG", {2, 13}: "OFPBAC_BAD_SET_TYPE",
	{2, 14}: "OFPBAC_BAD_SET_LEN", {2, 15}: "OFPBAC_BAD_SET_ARGUMENT",
	{3, 0}: "OFPBIC_UNKNOWN_INST", {3, 1}: "OFPBIC_UNSUP_INST", {3, 2}: "OFPBIC_BAD_TABLE_ID",
	{3, 3}: "OFPBIC_UNSUP_METADATA", {3, 4}: "OFPBIC_UNSUP_METADATA_MASK", {3, 5}: "OFPBIC_BAD_EXPERIMENTER",
	{4, 0}: "OFPBMC_BAD_TYPE", {4, 1}: "OFPBMC_BAD_LEN", {4, 2}: "OFPBMC_BAD_TAG",
	{4, 3}: "OFPBMC_BAD_DL_ADDR_MASK", {4, 4}: "OFPBMC_BAD_NW_ADDR_MASK", {4, 5}: "OFPBMC_BAD_WILDCARDS",
	{4, 6}: "OFPBMC_BAD_FIELD", {4, 7}: "OFPBMC_BAD_VALUE", {4, 8}: "OFPBMC_BAD_MASK",
	{4, 9}: "OFPBMC_BAD_PREREQ", {4, 10}: "OFPBMC_DUP_FIELD",
	{5, 0}: "OFPFMFC_UNKNOWN", {5, 1}: "OFPFMFC_TABLE_FULL", {5, 2}: "OFPFMFC_BAD_TABLE_ID",
	{5, 3}: "OFPFMFC_OVERLAP", {5, 4}: "OFPFMFC_EPERM", {5, 5}: "OFPFMFC_BAD_TIMEOUT",
	{5, 6}: "OFPFMFC_BAD_COMMAND", {5, 7}: "OFPFMFC_BAD_FLAGS",
	{6, 0}: "OFPGMFC_GROUP_EXISTS", {6, 1}: "OFPGMFC_INVALID_GROUP", {6, 2}: "OFPGMFC_WEIGHT_UNSUPPORTED",
	{6, 3}: "OFPGMFC_OUT_OF_GROUPS", {6, 4}: "OFPGMFC_OUT_OF_BUCKETS", {6, 5}: "OFPGMFC_CHAINING_UNSUPPORTED",
	{6, 6}: "OFPGMFC_WATCH_UNSUPPORTED", {6, 7}: "OFPGMFC_LOOP", {6, 8}: "OFPGMFC_UNKNOWN_GROUP",
	{6, 9}: "OFPGMFC_CHAINED_GROUP", {6, 10}: "OFPGMFC_BAD_TYPE", {6, 11}: "OFPGMFC_BAD_COMMAND",
	{6, 12}: "OFPGMFC_BAD_BUCKET", {6, 13}: "OFPGMFC_BAD_WATCH", {6, 14}: "OFPGMFC_EPERM",
	{12, 7}: "OFPMMFC_UNKNOWN_METER",
}

// onfErrorNames are the bundle errors of ONF extension 230, which OVS uses
// for bundles on OpenFlow 1.3.
var onfErrorNames = map[uint16]string{
	2300: "OFPBFC_UNKNOWN", 2301: "OFPBFC_EPERM", 2302: "OFPBFC_BAD_ID",
	2303: "OFPBFC_BUNDLE_EXIST", 2304: "OFPBFC_BUNDLE_CLOSED", 2305: "OFPBFC_OUT_OF_BUNDLES",
	2306: "OFPBFC_BAD_TYPE", 2307: "OFPBFC_BAD_FLAGS", 2308: "OFPBFC_MSG_BAD_LEN",
	2309: "OFPBFC_MSG_BAD_XID", 2310: "OFPBFC_MSG_UNSUP", 2311: "OFPBFC_MSG_CONFLICT",
	2312: "OFPBFC_MSG_TOO_MANY", 2313: "OFPBFC_MSG_FAILED", 2314: "OFPBFC_TIMEOUT",
	2315: "OFPBFC_BUNDLE_IN_PROGRESS",
}
