export { concatBytes as concat } from '../../src/crypto/bytes.js';
