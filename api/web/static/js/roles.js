// What the signed-in user is, for choosing screens (the hub checks every call anyway).
export function rolesOf(me) {
  const roles = new Set((me?.memberships || []).map((m) => m.role));
  if (me?.is_sys_admin) roles.add("sys_admin");
  return roles;
}
export const isStaff = (me) => { const r = rolesOf(me); return r.has("teacher") || r.has("org_admin"); };
export const isStudent = (me) => rolesOf(me).has("student");
export const isParent = (me) => rolesOf(me).has("parent");
export const isAdmin = (me) => { const r = rolesOf(me); return r.has("org_admin") || r.has("sys_admin") || (me?.admin_zone_ids || []).length > 0; };
export const firstOrg = (me, roles = null) => (me?.memberships || []).find((m) => !roles || roles.includes(m.role))?.org_id;
