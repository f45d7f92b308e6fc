export {listImages, pushImages} from './images.js'
